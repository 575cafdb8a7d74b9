// What the limits on slow clients cost: S6's request (`POST /track_click`) in a closed loop against
// one analyticsservice, as fast as VUS virtual users can go for DURATION. k6-tests/limits-cost.sh
// runs it against the same binary with the limits on and off, alternately.
//
//   k6 run -e URL=http://127.0.0.1:18006 -e VUS=20 -e DURATION=15s k6-tests/limits-cost.js

import http from 'k6/http';
import { check } from 'k6';

const URL = __ENV.URL || 'http://127.0.0.1:18006';

export const options = {
  scenarios: {
    clicks: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 20),
      duration: __ENV.DURATION || '15s',
    },
  },
  thresholds: { http_req_failed: ['rate<0.01'] },
};

const BODY = JSON.stringify({ user_id: 123, page: 'homepage' });
const PARAMS = { headers: { 'Content-Type': 'application/json' } };

export default function () {
  const res = http.post(`${URL}/track_click`, BODY, PARAMS);
  check(res, { 'S6 status is 200': (r) => r.status === 200 });
}
