// The load script of the study: the six scenarios of the synchronous architecture.
//
//   k6 run k6-tests/script-sync.js                               # the baseline profile, all six
//   k6 run -e PROFILE=smoke -e SCENARIOS=s1,s3 k6-tests/script-sync.js
//
// Every scenario is an entry of options.scenarios (so it can be selected, sized and thresholded on
// its own) that runs its group of the brief. Only unexpected answers count as failures: S5's 400 is
// the answer the saga is built to give, so it is declared expected for that request; a 5xx or a
// timeout never is. Each scenario has its own thresholds on checks and on http_req_failed, so a
// failing run names the scenario that misbehaved.
//
// Environment: HOST (localhost), PROFILE (baseline), SCENARIOS (all), REPORT_SECONDS (10, as the
// report service's), and USERSERVICE_URL, PAYMENTSERVICE_URL, PRODUCTSERVICE_URL,
// REPORTSERVICE_URL, ORDERSERVICE_URL, ANALYTICSSERVICE_URL to point one entrypoint elsewhere.
// `stack bench` also sets: WARMUP_S (run each scenario's warm-up instead: its own shape for that
// many seconds, no thresholds), S4_REPORTS (fixed-work S4: exactly n reports), CAPACITY_STEP_S
// (seconds per step of the capacity profile, whose steps are in capacity.json).

import http from 'k6/http';
import { check, group } from 'k6';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';

const HOST = __ENV.HOST || 'localhost';
const PROFILE = __ENV.PROFILE || 'baseline';
const REPORT_MS = Number(__ENV.REPORT_SECONDS || 10) * 1000;

const entrypoint = (name, port) => __ENV[`${name.toUpperCase()}_URL`] || `http://${HOST}:${port}`;
const URLS = {
  user: entrypoint('userservice', 8001),
  payment: entrypoint('paymentservice', 8002),
  product: entrypoint('productservice', 8003),
  report: entrypoint('reportservice', 8004),
  order: entrypoint('orderservice', 8005),
  analytics: entrypoint('analyticsservice', 8006),
};

// --- Profiles -------------------------------------------------------------------------------------
// smoke:    a few iterations of each scenario, side by side: a correctness check in well under a minute.
// baseline: the brief's intent: a handful of users per scenario, S6 at a high constant rate.
// load:     more users and a higher click rate, for longer.
// stress:   users and click rate ramping up until the synchronous coupling shows.
// open:     every scenario open-loop (constant-arrival-rate) at a fixed rate, so a slow answer does
//           not slow the arrivals down (no coordinated omission); dropped_iterations counts what
//           k6 could not start.
// capacity: each scenario's arrival rate in steps (capacity.json); stack reports the highest step
//           sustained within the scenario's p99 SLO.
// Outside smoke, the scenarios run one after another, so one scenario's load (S4's CPU above all)
// never bends another's numbers.

const iterations = (vus, count) => ({ executor: 'shared-iterations', vus, iterations: count, maxDuration: '60s' });
const users = (vus, duration) => ({ executor: 'constant-vus', vus, duration });
const ramp = (target, duration) => ({
  executor: 'ramping-vus',
  startVUs: 1,
  stages: [{ duration, target }, { duration: '30s', target }],
});
const clicks = (rate, duration, maxVUs) => ({
  executor: 'constant-arrival-rate',
  rate,
  timeUnit: '1s',
  duration,
  preAllocatedVUs: Math.min(maxVUs, 50),
  maxVUs,
});
const arrivals = (rate, duration, preAllocatedVUs, maxVUs, timeUnit = '1s') => ({
  executor: 'constant-arrival-rate',
  rate,
  timeUnit,
  duration,
  preAllocatedVUs,
  maxVUs,
});
const rampingClicks = (target, duration, maxVUs) => ({
  executor: 'ramping-arrival-rate',
  startRate: 100,
  timeUnit: '1s',
  stages: [{ duration, target }, { duration: '30s', target }],
  preAllocatedVUs: 100,
  maxVUs,
});

const PROFILES = {
  smoke: {
    sequential: false,
    tolerance: 0,
    s1: iterations(2, 4), s2: iterations(2, 2), s3: iterations(2, 6),
    s4: iterations(1, 1), s5: iterations(2, 6), s6: clicks(50, '5s', 20),
  },
  baseline: {
    sequential: true,
    tolerance: 0,
    s1: users(5, '30s'), s2: users(5, '30s'), s3: users(5, '30s'),
    s4: users(1, '30s'), s5: users(5, '30s'), s6: clicks(500, '30s', 200),
  },
  load: {
    sequential: true,
    tolerance: 0.01,
    s1: users(25, '60s'), s2: users(25, '60s'), s3: users(25, '60s'),
    s4: users(2, '60s'), s5: users(25, '60s'), s6: clicks(2000, '60s', 500),
  },
  stress: {
    sequential: true,
    tolerance: 0.05,
    s1: ramp(200, '90s'), s2: ramp(200, '90s'), s3: ramp(200, '90s'),
    s4: ramp(8, '90s'), s5: ramp(200, '90s'), s6: rampingClicks(6000, '90s', 2000),
  },
  // Rates well inside what two shared cores sustain; VUs for several times the expected concurrency
  // (rate x latency), so the generator is not the limit.
  open: {
    sequential: true,
    tolerance: 0,
    s1: arrivals(10, '30s', 20, 100), s2: arrivals(10, '30s', 50, 200), s3: arrivals(500, '30s', 50, 500),
    s4: arrivals(6, '60s', 4, 10, '1m'), s5: arrivals(200, '30s', 50, 500), s6: arrivals(1000, '30s', 50, 500),
  },
  capacity: { sequential: true, tolerance: 1 },
};
const CAPACITY = JSON.parse(open('./capacity.json'));

const ALL = ['s1', 's2', 's3', 's4', 's5', 's6'];
const profile = PROFILES[PROFILE];
if (!profile) {
  throw new Error(`PROFILE=${PROFILE}: one of ${Object.keys(PROFILES).join(', ')}`);
}
const WARMUP_S = Number(__ENV.WARMUP_S || 0);
const S4_REPORTS = Number(__ENV.S4_REPORTS || 0);
const STEP_S = Number(__ENV.CAPACITY_STEP_S || CAPACITY.default_step_s);
const selected = (__ENV.SCENARIOS || ALL.join(','))
  .split(',')
  .map((name) => name.trim().toLowerCase())
  .filter((name) => name.length > 0);
const unknown = selected.filter((name) => !ALL.includes(name));
if (unknown.length > 0 || selected.length === 0) {
  throw new Error(`SCENARIOS=${__ENV.SCENARIOS}: a comma-separated subset of ${ALL.join(',')}`);
}

// Long enough for S4's ten-second report and for any request in flight when a scenario ends.
const GRACEFUL_STOP_S = 20;

// How long a scenario's executor runs, to start the next one after it.
function seconds(config) {
  const parse = (text) => Number(text.replace('s', ''));
  if (config.duration) return parse(config.duration);
  if (config.stages) return config.stages.reduce((sum, stage) => sum + parse(stage.duration), 0);
  return parse(config.maxDuration);
}

// The capacity steps of one scenario: `<name>_step<i>` (i from 1), one after another.
function capacitySteps(name) {
  const plan = CAPACITY.scenarios[name];
  const duration = Math.max(STEP_S, plan.min_step_s);
  return plan.steps.map(([rate, preAllocatedVUs, maxVUs], index) => [
    `${name}_step${index + 1}`,
    {
      ...arrivals(rate, `${duration}s`, preAllocatedVUs, maxVUs, plan.time_unit),
      gracefulStop: `${plan.grace_s}s`,
      startTime: `${index * (duration + plan.grace_s)}s`,
    },
  ]);
}

// The load of one scenario in this profile, with the fixed-work S4 option applied.
function shape(name) {
  if (name === 's4' && S4_REPORTS > 0) {
    const vus = Math.min(S4_REPORTS, (profile.s4 && profile.s4.vus) || 1);
    return { executor: 'shared-iterations', vus, iterations: S4_REPORTS, maxDuration: `${S4_REPORTS * (REPORT_MS / 1000) * 2 + 60}s` };
  }
  return profile[name];
}

// A scenario's warm-up: its own VUs or arrival rate, held for WARMUP_S seconds.
function warmup(name) {
  const config = PROFILE === 'capacity' ? capacitySteps(name)[0][1] : shape(name);
  const hold = `${WARMUP_S}s`;
  switch (config.executor) {
    case 'constant-arrival-rate':
      return { ...config, duration: hold, startTime: '0s' };
    case 'ramping-arrival-rate':
      return arrivals(config.startRate, hold, config.preAllocatedVUs, config.maxVUs, config.timeUnit);
    case 'ramping-vus':
      return users(config.startVUs, hold);
    default:
      return users(config.vus, hold);
  }
}

function buildScenarios() {
  const scenarios = {};
  let startAt = 0;
  for (const name of ALL.filter((candidate) => selected.includes(candidate))) {
    if (WARMUP_S > 0) {
      scenarios[name] = { ...warmup(name), exec: name, gracefulStop: `${GRACEFUL_STOP_S}s`, startTime: `${startAt}s` };
      startAt += WARMUP_S + GRACEFUL_STOP_S;
    } else if (PROFILE === 'capacity') {
      for (const [step, config] of capacitySteps(name)) {
        scenarios[step] = { ...config, exec: name, startTime: `${startAt + Number(config.startTime.replace('s', ''))}s` };
      }
      const plan = CAPACITY.scenarios[name];
      startAt += plan.steps.length * (Math.max(STEP_S, plan.min_step_s) + plan.grace_s);
    } else {
      scenarios[name] = {
        ...shape(name),
        exec: name,
        gracefulStop: `${GRACEFUL_STOP_S}s`,
        startTime: `${profile.sequential ? startAt : 0}s`,
      };
      startAt += seconds(shape(name)) + GRACEFUL_STOP_S;
    }
  }
  return scenarios;
}

// Per scenario, so a failing run names the scenario. None for warm-ups, and none for capacity, whose
// later steps are meant to fail (stack judges each step against its SLO).
function buildThresholds() {
  const thresholds = {};
  if (WARMUP_S > 0 || PROFILE === 'capacity') return thresholds;
  for (const name of selected) {
    thresholds[`checks{scenario:${name}}`] = [profile.tolerance === 0 ? 'rate==1' : `rate>=${1 - profile.tolerance}`];
    thresholds[`http_req_failed{scenario:${name}}`] = [profile.tolerance === 0 ? 'rate==0' : `rate<=${profile.tolerance}`];
  }
  return thresholds;
}

export const options = {
  scenarios: buildScenarios(),
  thresholds: buildThresholds(),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'],
};

// --- Requests -------------------------------------------------------------------------------------

const JSON_HEADERS = { 'Content-Type': 'application/json' };
const OK = http.expectedStatuses(200, 201);
http.setResponseCallback(OK);

// Unique per run, VU and iteration: every S1 iteration registers a new email.
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

// Each scenario's own response times, so the summary reports them apart (k6's http_req_duration
// mixes all six).
const LATENCY = Object.fromEntries(ALL.map((name) => [name, new Trend(`latency_${name}`, true)]));

function post(url, body, params = {}) {
  return http.post(url, JSON.stringify(body), { headers: JSON_HEADERS, ...params });
}

function field(res, path) {
  try {
    return res.json(path);
  } catch (_) {
    return undefined;
  }
}

export function s1() {
  group('S1 register, waiting for the welcome email', () => {
    const email = `k6-${RUN}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}@example.org`;
    const res = post(`${URLS.user}/register`, { email });
    LATENCY.s1.add(res.timings.duration);
    check(res, {
      'S1 status is 201': (r) => r.status === 201,
      'S1 took more than 500 ms': (r) => r.timings.duration > 500,
      'S1 answers the registered user': (r) => field(r, 'email') === email && field(r, 'id') > 0,
    });
  });
}

export function s2() {
  group('S2 slow payment', () => {
    const res = post(`${URLS.payment}/process_payment`, { amount: 10 });
    LATENCY.s2.add(res.timings.duration);
    check(res, {
      'S2 status is 200': (r) => r.status === 200,
      'S2 took more than 2000 ms': (r) => r.timings.duration > 2000,
      'S2 answers a transaction id': (r) => field(r, 'status') === 'success' && !!field(r, 'transaction_id'),
    });
  });
}

export function s3() {
  group('S3 product update with sequential fan-out', () => {
    const id = 1 + Math.floor(Math.random() * 100);
    const stock = Math.floor(Math.random() * 1000);
    const res = http.put(`${URLS.product}/products/${id}`, JSON.stringify({ stock }), { headers: JSON_HEADERS });
    LATENCY.s3.add(res.timings.duration);
    check(res, {
      'S3 status is 200': (r) => r.status === 200,
      'S3 answers the updated product': (r) => field(r, 'id') === id && field(r, 'stock') === stock,
    });
  });
}

export function s4() {
  group('S4 CPU-bound report', () => {
    const res = post(`${URLS.report}/generate_report`, {}, { timeout: `${REPORT_MS / 1000 + 120}s` });
    LATENCY.s4.add(res.timings.duration);
    check(res, {
      'S4 status is 200': (r) => r.status === 200,
      [`S4 took more than ${REPORT_MS} ms`]: (r) => r.timings.duration > REPORT_MS,
      'S4 answers a SHA-256 hash': (r) => /^[0-9a-f]{64}$/.test(field(r, 'report_hash') || ''),
    });
  });
}

export function s5() {
  group('S5 order saga with compensation', () => {
    const res = post(
      `${URLS.order}/create_order`,
      { product_id: 1 + Math.floor(Math.random() * 100), quantity: 1 },
      { responseCallback: http.expectedStatuses(400) },
    );
    LATENCY.s5.add(res.timings.duration);
    check(res, {
      'S5 status is 400': (r) => r.status === 400,
      'S5 answers the payment failure': (r) =>
        field(r, 'message') === 'Order failed due to payment issue' && field(r, 'status') === 'failed',
    });
  });
}

export function s6() {
  group('S6 click ingestion', () => {
    const res = post(`${URLS.analytics}/track_click`, { user_id: exec.vu.idInTest, page: 'homepage' });
    LATENCY.s6.add(res.timings.duration);
    check(res, {
      'S6 status is 200': (r) => r.status === 200,
      'S6 answers tracked': (r) => field(r, 'status') === 'tracked',
    });
  });
}
