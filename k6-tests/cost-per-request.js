// One scenario's request, open loop at a fixed arrival rate, for measuring what each request costs in
// CPU (k6-tests/cost-per-request.py drives it and reads /proc around it).
//
//   k6 run -e SCENARIO=s3 -e RATE=1000 -e DURATION=15s -e URL=http://127.0.0.1:18003 k6-tests/cost-per-request.js
//
// The requests are script-sync.js's, so a figure here and a `stack bench` figure measure the same work.
// The checks fail on any unexpected answer, so a cheap but broken request is never counted as cheap.

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

const SCENARIO = __ENV.SCENARIO;
const RATE = Number(__ENV.RATE);
const URL = __ENV.URL;
// Several times the expected concurrency (rate x latency), so k6 is never the limit.
const VUS = Number(__ENV.VUS || Math.max(20, Math.ceil(RATE / 10)));
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

export const options = {
  scenarios: {
    [SCENARIO]: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '15s',
      preAllocatedVUs: VUS,
      maxVUs: VUS * 4,
      gracefulStop: '5s',
    },
  },
  summaryTrendStats: ['avg', 'med', 'p(99)', 'max'],
};

const JSON_HEADERS = { headers: { 'Content-Type': 'application/json' } };
const body = (value) => JSON.stringify(value);

const REQUESTS = {
  s1: () => {
    const email = `cost-${RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}@example.org`;
    return [http.post(`${URL}/register`, body({ email }), JSON_HEADERS), 201];
  },
  s3: () => {
    const id = 1 + Math.floor(Math.random() * 100);
    const stock = Math.floor(Math.random() * 1000);
    return [http.put(`${URL}/products/${id}`, body({ stock }), JSON_HEADERS), 200];
  },
  s5: () => {
    const order = { product_id: 1 + Math.floor(Math.random() * 100), quantity: 1 };
    return [http.post(`${URL}/create_order`, body(order), { ...JSON_HEADERS, responseCallback: http.expectedStatuses(400) }), 400];
  },
  s6: () => [http.post(`${URL}/track_click`, body({ user_id: exec.vu.idInTest, page: 'homepage' }), JSON_HEADERS), 200],
};

if (!REQUESTS[SCENARIO]) {
  throw new Error(`SCENARIO=${SCENARIO}: one of ${Object.keys(REQUESTS).join(', ')}`);
}

export default function () {
  const [res, expected] = REQUESTS[SCENARIO]();
  check(res, { 'expected status': (r) => r.status === expected });
}
