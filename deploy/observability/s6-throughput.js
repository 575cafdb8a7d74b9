// S6 at full speed: closed-loop VUs posting clicks as fast as the service answers, for measuring
// what the instrumentation costs in throughput (deploy/observability/cost-bench.sh). Not a scenario
// of the study: script-sync.js's S6 is open-loop at a fixed rate.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: Number(__ENV.VUS || 16),
  duration: __ENV.DURATION || '20s',
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'p(50)', 'p(99)'],
};

const url = `${__ENV.TARGET || 'http://127.0.0.1:18106'}/track_click`;
const body = JSON.stringify({ user_id: 1, page: 'homepage' });
const params = { headers: { 'Content-Type': 'application/json' } };

export default function () {
  const res = http.post(url, body, params);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
