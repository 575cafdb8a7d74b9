// The load script of the study: the six scenarios of the synchronous architecture.
//
//   k6 run k6-tests/script-sync.js                               # the baseline profile, all six
//   k6 run -e PROFILE=smoke -e SCENARIOS=s1,s3 k6-tests/script-sync.js
//
// Every scenario is an entry of options.scenarios (so it can be selected, sized and thresholded on
// its own) that runs its scenario of the brief. Only unexpected answers count as failures, and what is
// expected is the implementation's contract (CONTRACT, below): this system's S5 answers 400, the
// answer the saga is built to give, and a broker design's S1 answers 202; a timeout never is. Each scenario has its own thresholds on checks and on http_req_failed, so a
// failing run names the scenario that misbehaved.
//
// Environment: HOST (localhost), PROFILE (baseline), SCENARIOS (all), REPORT_SECONDS (10, as the
// report service's), CONTRACT (./contracts/sync.json: which answers count as accepted, below),
// TRACE_SAMPLE (0: the fraction of iterations whose request carries a sampled traceparent, below),
// and USERSERVICE_URL, PAYMENTSERVICE_URL, PRODUCTSERVICE_URL,
// REPORTSERVICE_URL, ORDERSERVICE_URL, ANALYTICSSERVICE_URL to point one entrypoint elsewhere.
// `stack bench` also sets: WARMUP_S (run each scenario's warm-up instead: its own shape for that
// many seconds, no thresholds), S4_REPORTS (fixed-work S4: exactly n reports), CAPACITY_STEP_S
// (seconds per step of the capacity profile, whose steps are in capacity.json), CAPACITY_STEPS (only
// that many of each ladder's lowest steps: a short check); `stack calibrate`
// sets CALIBRATE_RATE and CALIBRATE_S (profile calibrate).
//
// Open loop, measured as wrk2 measures it: every arrival-rate iteration records its schedule lag
// (`schedule_lag`: when it started minus when the executor meant it to start) and its corrected
// latency (`corrected_duration`: from when it was meant to start to its response in hand), beside
// k6's own `http_req_duration`, which counts from when the request was actually sent. Each arrival-
// rate scenario has all its VUs allocated before it starts (preAllocatedVUs = maxVUs), enough for
// its rate at VU_MARGIN times its SLO, so k6 never stalls its schedule to initialise a VU.

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Gauge, Trend } from 'k6/metrics';

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
// calibrate: one scenario at CALIBRATE_RATE arrivals/s for CALIBRATE_S seconds, against the responder
//           of `stack calibrate` (which answers at once): what rate k6 itself can offer on time.
// Outside smoke, the scenarios run one after another, so one scenario's load (S4's CPU above all)
// never bends another's numbers.

const CAPACITY = JSON.parse(open('./capacity.json'));

// Each arrival-rate scenario's VUs: rate x VU_MARGIN x its p99 SLO (capacity.json), at least MIN_VUS,
// all allocated before it starts. Requests in flight average rate x latency (Little's law), so a
// system answering within its SLO keeps about a third of them busy; k6 drops an arrival only when
// every VU is busy, that is once requests take about three times the SLO (the step has failed by
// then, and the drops are counted). A larger VU_MARGIN (`stack bench --vu-margin`) keeps a stalled
// system's arrivals waiting on it, measured, instead of dropped, at k6's memory's expense.
const VU_MARGIN = Number(__ENV.VU_MARGIN || 3);
if (!(VU_MARGIN > 0)) throw new Error(`VU_MARGIN=${__ENV.VU_MARGIN}: a multiple of rate x SLO, above 0`);
const MIN_VUS = 10;

// `250ms`, `20s`, `1m`, `1h` in milliseconds.
function ms(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(text));
  if (!match) throw new Error(`${text}: expected a duration such as 500ms, 20s or 1m`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2]];
}

function vusFor(name, arrivals, timeUnit) {
  const perSecond = arrivals / (ms(timeUnit) / 1000);
  const sloSeconds = CAPACITY.scenarios[name].slo_p99_ms / 1000;
  return Math.max(MIN_VUS, Math.ceil(perSecond * sloSeconds * VU_MARGIN));
}

const iterations = (vus, count) => ({ executor: 'shared-iterations', vus, iterations: count, maxDuration: '60s' });
const users = (vus, duration) => ({ executor: 'constant-vus', vus, duration });
const ramp = (target, duration) => ({
  executor: 'ramping-vus',
  startVUs: 1,
  stages: [{ duration, target }, { duration: '30s', target }],
});
// `rate` arrivals per `timeUnit` of scenario `name`, for `duration`.
const arrivals = (name, rate, duration, timeUnit = '1s') => {
  const vus = vusFor(name, rate, timeUnit);
  return { executor: 'constant-arrival-rate', rate, timeUnit, duration, preAllocatedVUs: vus, maxVUs: vus };
};
// S6 ramping from 100/s to `target`/s over `duration`, then held for 30 s.
const rampingClicks = (target, duration) => {
  const vus = vusFor('s6', target, '1s');
  return {
    executor: 'ramping-arrival-rate',
    startRate: 100,
    timeUnit: '1s',
    stages: [{ duration, target }, { duration: '30s', target }],
    preAllocatedVUs: vus,
    maxVUs: vus,
  };
};

const PROFILES = {
  smoke: {
    sequential: false,
    tolerance: 0,
    s1: iterations(2, 4), s2: iterations(2, 2), s3: iterations(2, 6),
    s4: iterations(1, 1), s5: iterations(2, 6), s6: arrivals('s6', 50, '5s'),
  },
  baseline: {
    sequential: true,
    tolerance: 0,
    s1: users(5, '30s'), s2: users(5, '30s'), s3: users(5, '30s'),
    s4: users(1, '30s'), s5: users(5, '30s'), s6: arrivals('s6', 500, '30s'),
  },
  load: {
    sequential: true,
    tolerance: 0.01,
    s1: users(25, '60s'), s2: users(25, '60s'), s3: users(25, '60s'),
    s4: users(2, '60s'), s5: users(25, '60s'), s6: arrivals('s6', 2000, '60s'),
  },
  stress: {
    sequential: true,
    tolerance: 0.05,
    s1: ramp(200, '90s'), s2: ramp(200, '90s'), s3: ramp(200, '90s'),
    s4: ramp(8, '90s'), s5: ramp(200, '90s'), s6: rampingClicks(6000, '90s'),
  },
  // Rates well inside what two shared cores sustain.
  open: {
    sequential: true,
    tolerance: 0,
    s1: arrivals('s1', 10, '30s'), s2: arrivals('s2', 10, '30s'), s3: arrivals('s3', 500, '30s'),
    s4: arrivals('s4', 6, '60s', '1m'), s5: arrivals('s5', 200, '30s'), s6: arrivals('s6', 1000, '30s'),
  },
  capacity: { sequential: true, tolerance: 1 },
  calibrate: { sequential: true, tolerance: 1 },
};
const ALL = ['s1', 's2', 's3', 's4', 's5', 's6'];
const profile = PROFILES[PROFILE];
if (!profile) {
  throw new Error(`PROFILE=${PROFILE}: one of ${Object.keys(PROFILES).join(', ')}`);
}
const WARMUP_S = Number(__ENV.WARMUP_S || 0);
const S4_REPORTS = Number(__ENV.S4_REPORTS || 0);
const STEP_S = Number(__ENV.CAPACITY_STEP_S || CAPACITY.default_step_s);
const STEPS_KEPT = Number(__ENV.CAPACITY_STEPS || 0);
if (PROFILE === 'calibrate') {
  const rate = Number(__ENV.CALIBRATE_RATE);
  const duration = `${Number(__ENV.CALIBRATE_S || 10)}s`;
  if (!(rate > 0)) throw new Error(`CALIBRATE_RATE=${__ENV.CALIBRATE_RATE}: arrivals per second, above 0`);
  for (const name of ALL) profile[name] = arrivals(name, rate, duration);
}
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

// How long a scenario's executor runs, in seconds, to start the next one after it.
function seconds(config) {
  if (config.duration) return ms(config.duration) / 1000;
  if (config.stages) return config.stages.reduce((sum, stage) => sum + ms(stage.duration), 0) / 1000;
  return ms(config.maxDuration) / 1000;
}

// The capacity steps of one scenario: `<name>_step<i>` (i from 1), one after another. Each step's
// VUs come from its rate and the SLO (vusFor), not from the VU columns of capacity.json.
function capacitySteps(name) {
  const plan = CAPACITY.scenarios[name];
  const duration = Math.max(STEP_S, plan.min_step_s);
  const steps = STEPS_KEPT > 0 ? plan.steps.slice(0, STEPS_KEPT) : plan.steps;
  return steps.map(([rate], index) => [
    `${name}_step${index + 1}`,
    {
      ...arrivals(name, rate, `${duration}s`, plan.time_unit),
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
      return arrivals(name, config.startRate, hold, config.timeUnit);
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
        scenarios[step] = { ...config, exec: name, startTime: `${startAt + ms(config.startTime) / 1000}s` };
      }
      const plan = CAPACITY.scenarios[name];
      startAt += capacitySteps(name).length * (Math.max(STEP_S, plan.min_step_s) + plan.grace_s);
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

// Per scenario, so a failing run names the scenario. None for warm-ups, none for capacity, whose
// later steps are meant to fail (stack judges each step against its SLO), and none for calibrate,
// whose responder answers every scenario with a fixed body (its checks do not hold).
function buildThresholds() {
  const thresholds = {};
  if (WARMUP_S > 0 || PROFILE === 'capacity' || PROFILE === 'calibrate') return thresholds;
  for (const name of selected) {
    thresholds[`checks{scenario:${name}}`] = [profile.tolerance === 0 ? 'rate==1' : `rate>=${1 - profile.tolerance}`];
    thresholds[`http_req_failed{scenario:${name}}`] = [profile.tolerance === 0 ? 'rate==0' : `rate<=${profile.tolerance}`];
  }
  return thresholds;
}

const SCENARIOS = buildScenarios();

// The tags k6 writes on each sample: only those read (stack's scenario, expected_response and
// status; the thresholds' scenario) or needed to read a failure (check, error, error_code). k6's
// default adds url and name (the URL, twice per HTTP sample), method, proto, subproto, tls_version,
// service and group to every line of the raw samples: the generator's cost per request
// (docs/generator.md, "What the script costs k6").
const SYSTEM_TAGS = ['scenario', 'status', 'expected_response', 'check', 'error', 'error_code'];

export const options = {
  scenarios: SCENARIOS,
  thresholds: buildThresholds(),
  systemTags: SYSTEM_TAGS,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'],
};

// --- Requests -------------------------------------------------------------------------------------

const JSON_HEADERS = { 'Content-Type': 'application/json' };

// --- The implementation's contract ----------------------------------------------------------------
//
// Which answers count as accepted, per scenario, is the implementation's, not the script's: a file
// of k6-tests/contracts/ (CONTRACT, default this system's sync.json; docs/results.md describes it).
// Per scenario: `statuses`, the answers k6 counts as expected (any other is in http_req_failed and
// fails the status check); `slower_than_ms`, a floor the answer must take longer than (a number, or
// "REPORT_MS" for the report service's own time), for a design that answers once the work is done;
// and `fields` of the JSON body with `answer` naming them: each `{path, is, value}` where `is` is
// `sent` (equal to what the request sent under that name), `equal` (to `value`), `above` (`value`),
// `present` or `match` (the regular expression `value`); and `defers: true` where the answer only
// acknowledges work done later (a traced request's trace must then show it after the answer). The
// checks below are built from it once,
// in init, so a request costs what the hand-written checks cost.
const CONTRACT = JSON.parse(open(__ENV.CONTRACT || './contracts/sync.json'));
// The scenarios whose answer the contract calls an acknowledgement (`defers`): their work is done later.
const DEFERS = new Set(Object.entries(CONTRACT.scenarios || {}).filter(([, terms]) => terms.defers).map(([name]) => name));

const FIELD_RULES = {
  sent: (rule) => (got, sent) => got === sent[rule.path],
  equal: (rule) => (got) => got === rule.value,
  above: (rule) => (got) => got > rule.value,
  present: () => (got) => !!got,
  match: (rule) => {
    const pattern = new RegExp(rule.value);
    return (got) => pattern.test(got === undefined || got === null ? '' : String(got));
  },
};

// What the current request sent, for the `sent` rules: set by accepts() before its checks run, so
// that each scenario's checks are made once, not per request (the script is also the load
// generator's cost per request).
let SENT = {};

// One scenario's contract as k6 checks, made once.
function acceptanceOf(name) {
  const label = name.toUpperCase();
  const terms = CONTRACT.scenarios && CONTRACT.scenarios[name];
  if (!terms || !Array.isArray(terms.statuses) || terms.statuses.length === 0) {
    throw new Error(`CONTRACT=${__ENV.CONTRACT || './contracts/sync.json'}: scenario ${name} has no statuses`);
  }
  const floor = terms.slower_than_ms === 'REPORT_MS' ? REPORT_MS : terms.slower_than_ms;
  const rules = (terms.fields || []).map((rule) => {
    if (!FIELD_RULES[rule.is]) throw new Error(`CONTRACT: ${name}.${rule.path}: "is" must be one of ${Object.keys(FIELD_RULES).join(', ')}`);
    return { path: rule.path, holds: FIELD_RULES[rule.is](rule) };
  });
  const checks = { [`${label} status is ${terms.statuses.join(' or ')}`]: (r) => terms.statuses.includes(r.status) };
  if (floor !== undefined) checks[`${label} took more than ${floor} ms`] = (r) => r.timings.duration > floor;
  if (rules.length > 0) {
    checks[`${label} answers ${terms.answer || 'as its contract says'}`] = (r) =>
      rules.every((rule) => rule.holds(field(r, rule.path), SENT));
  }
  return { responseCallback: http.expectedStatuses(...terms.statuses), checks };
}

// Whether `res`, the answer to a request that sent `sent`, holds to scenario `name`'s contract (k6's
// checks, counted per check).
function accepts(name, res, sent) {
  SENT = sent;
  return check(res, ACCEPTANCE[name].checks);
}

const ACCEPTANCE = Object.fromEntries(selected.map((name) => [name, acceptanceOf(name)]));

// The contract's expected statuses are the VU's response callback, set when the VU starts running
// another scenario's iterations (cheaper for k6 than a callback passed with every request).
let expecting = null;
function expect(name) {
  if (expecting !== name) {
    http.setResponseCallback(ACCEPTANCE[name].responseCallback);
    expecting = name;
  }
}

// Each scenario's request parameters, made once (S4's timeout).
const PARAMS = Object.fromEntries(
  ALL.map((name) => [name, { headers: JSON_HEADERS, ...(name === 's4' ? { timeout: `${REPORT_MS / 1000 + 120}s` } : {}) }]),
);

// Drawn once per VU of each k6 process (every VU runs this init code): with the scenario's name and
// the iteration's number in it, unique across the whole test, capacity steps, warm-ups and repeats.
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;

// --- Schedule lag and corrected latency (wrk2's measure, in every arrival-rate scenario) -----------
//
// k6 starts an arrival-rate scenario's iteration n (from 0, `exec.scenario.iterationInTest`) at a
// time fixed by the plan alone: constant-arrival-rate at n x timeUnit / rate after the executor
// started; ramping-arrival-rate when the area under the rate curve reaches n + 1. The time since the
// executor started is `exec.scenario.progress` x the executor's duration, which k6 computes from
// nanoseconds (its `startTime` and `Date.now()` are whole milliseconds). The lag is the iteration's
// actual start minus its intended one; the corrected latency runs from the intended start to the
// response in hand, so a late generator's wait counts as the user's.
//
// Every scenario makes one request per iteration, so the corrected latency is the lag plus the
// request's full time (k6's http_req_duration plus any wait for a connection, and the microseconds
// of script before it); an iteration of several requests would count its whole span from its
// intended start, what a user of it waits. Limits, stated where the figures are reported:
// - `iterationInTest` counts started iterations only. After k6 drops an arrival (no idle VU) the
//   index runs behind the plan, and every later lag of that scenario reads one arrival interval too
//   long per drop. k6 handles the slots in order and stamps a drop when its loop reaches the slot,
//   so the drops stamped before an iteration's start are the slots skipped to reach it. `stack`
//   takes each sample net of those (stack-study/src/bench/stats.rs, `net_of_drops`): the lag's own
//   stamp is the start, and both samples of an iteration carry its index as k6 metadata `i`
//   (metadata, not a tag: a tag per index would make a time series per iteration), so the corrected
//   latency, stamped at the answer, is netted by its start too. Exact to the millisecond of k6's
//   stamps for constant-arrival-rate, approximate (the plan's mean interval) for
//   ramping-arrival-rate. This summary's own `schedule_lag` and `corrected_duration` are as
//   measured, uncorrected.
// - ramping-arrival-rate begins its plan after allocating its VUs, a little after `progress` starts
//   counting, so its lags are overstated by that allocation time (constant-arrival-rate's plan and
//   `progress` share their start).
// - Two VUs taking consecutive iterations can read their indexes in the other order; the earlier
//   start then reads a few microseconds below zero, and counts as zero.
const SCHEDULE_LAG = new Trend('schedule_lag', true);
const CORRECTED_DURATION = new Trend('corrected_duration', true);

// When iteration n is meant to start, in ms after the executor's start; null for a scenario that is
// not arrival-rate.
function planOf(config) {
  const unit = ms(config.timeUnit || '1s');
  if (config.executor === 'constant-arrival-rate') {
    // As k6: the interval truncated to whole nanoseconds.
    const intervalNs = Math.trunc((unit * 1e6) / config.rate);
    const durationMs = ms(config.duration);
    return { durationMs, arrivals: Math.round((config.rate * durationMs) / unit), due: (n) => (n * intervalNs) / 1e6 };
  }
  if (config.executor === 'ramping-arrival-rate') {
    const stages = config.stages.map((stage) => ({ ms: ms(stage.duration), to: stage.target / unit }));
    return {
      durationMs: stages.reduce((sum, stage) => sum + stage.ms, 0),
      arrivals: Math.floor(rampArea(config.startRate / unit, stages)),
      due: (n) => rampDue(config.startRate / unit, stages, n + 1),
    };
  }
  return null;
}

// When the area under a rate that ramps linearly stage by stage (arrivals per ms) reaches `area`:
// k6's own calculation (ramping_arrival_rate.go, `cal`).
function rampDue(startRate, stages, area) {
  let from = startRate;
  let done = 0;
  let stageStart = 0;
  for (const stage of stages) {
    const to = stage.to;
    const end = done + stage.ms * (from === to ? to : (to - from) / 2 + from);
    if (area <= end) {
      if (from === to) return stageStart + (area - done) / to;
      const root = Math.sqrt(Math.max(0, stage.ms * (from * from * stage.ms + 2 * (area - done) * (to - from))));
      return stageStart + (from * stage.ms - root) / (from - to);
    }
    done = end;
    from = to;
    stageStart += stage.ms;
  }
  return stageStart;
}

// The arrivals under a rate that ramps linearly stage by stage: the area under its curve.
function rampArea(startRate, stages) {
  let from = startRate;
  let area = 0;
  for (const stage of stages) {
    area += (stage.ms * (from + stage.to)) / 2;
    from = stage.to;
  }
  return area;
}

const PLANS = Object.fromEntries(Object.entries(SCENARIOS).map(([name, config]) => [name, planOf(config)]));

// Each arrival-rate scenario's plan, once, tagged `planned:<scenario>`: how many arrivals it
// schedules (`schedule_arrivals`) over how many seconds (`schedule_seconds`). stack's accounting
// checks what happened against them, and divides open-loop rates by the seconds.
const SCHEDULE_ARRIVALS = new Gauge('schedule_arrivals');
const SCHEDULE_SECONDS = new Gauge('schedule_seconds');

export function setup() {
  for (const [name, plan] of Object.entries(PLANS)) {
    if (plan) {
      SCHEDULE_ARRIVALS.add(plan.arrivals, { planned: name });
      SCHEDULE_SECONDS.add(plan.durationMs / 1000, { planned: name });
    }
  }
}

// The start of an iteration: its lag behind the plan (null outside arrival-rate scenarios) and the
// test clock then.
// k6 builds a new object, every accessor defined anew, on each read of `exec.scenario`,
// `exec.instance` or `exec.vu` (their accessors then read live values): an iteration reads each once.
function arrival() {
  const scenario = exec.scenario;
  const instance = exec.instance;
  const plan = PLANS[scenario.name];
  const begun = instance.currentTestRunDuration;
  if (!plan) return { lag: null, begun, instance };
  const progress = scenario.progress;
  const elapsed = progress < 1 ? progress * plan.durationMs : Date.now() - scenario.startTime;
  const iteration = scenario.iterationInTest;
  const lag = Math.max(0, elapsed - plan.due(iteration));
  const metadata = exec.vu.metrics.metadata;
  addOfIteration(metadata, SCHEDULE_LAG, lag, iteration);
  return { lag, begun, iteration, instance, metadata };
}

// The iteration's response is in hand: its corrected latency.
function answered(start) {
  if (start.lag !== null) {
    addOfIteration(start.metadata, CORRECTED_DURATION, start.lag + start.instance.currentTestRunDuration - start.begun, start.iteration);
  }
}

// One sample of `metric` carrying its iteration's index as metadata `i` (the VU's `metadata`), on
// this sample only.
function addOfIteration(metadata, metric, value, iteration) {
  metadata.i = String(iteration);
  metric.add(value);
  delete metadata.i;
}

// --- Traced requests (issue 29: the time until the work is done) -----------------------------------
//
// In a fraction TRACE_SAMPLE of iterations the request carries a sampled W3C `traceparent` with
// random ids, so that every span the system makes for its work shares that trace id; stack reads
// the spans over OTLP (stack-record's traces.csv) and takes the last span end as the work's end.
// Each traced iteration emits one `traced_answer` sample (ms from its intended start to its answer
// in hand, the corrected latency where the scenario is arrival-rate) with k6's per-sample metadata,
// which is made for ids (a tag per id would make a series per request): `trace` (32 hex digits),
// `start` (its intended start in Unix ms to the microsecond) and `accepted` (1 when every check of
// its contract held). `trace` is set for the whole iteration, so its http_req_* and checks samples
// carry it too. Untraced iterations cost one Math.random().
//
// The intended start is on k6's test clock (`currentTestRunDuration`, sub-millisecond); its Unix time
// needs that clock's offset, which Date.now() gives only to the millisecond. Each VU measures it once,
// after its first traced answer: it waits for Date.now() to tick (at most 1 ms) and reads the test
// clock at the tick, to a few microseconds. Spans are stamped by the same host's clock.
const TRACE_SAMPLE = Number(__ENV.TRACE_SAMPLE || 0);
if (!(TRACE_SAMPLE >= 0 && TRACE_SAMPLE <= 1)) throw new Error(`TRACE_SAMPLE=${__ENV.TRACE_SAMPLE}: a fraction from 0 to 1`);
const TRACED_ANSWER = new Trend('traced_answer', true);
let unixMinusTestClockMs = null;

const hex8 = () => Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');

// Whether this iteration is traced: its trace, or null. Call before the request.
function traced() {
  if (!(TRACE_SAMPLE > 0) || Math.random() >= TRACE_SAMPLE) return null;
  const id = hex8() + hex8() + hex8() + hex8();
  exec.vu.metrics.metadata.trace = id;
  return { id, traceparent: `00-${id}-${hex8()}${hex8()}-01`, answeredAt: 0 };
}

// The request parameters of scenario `name`, with the trace's header when traced.
function paramsOf(name, trace) {
  expect(name);
  if (!trace) return PARAMS[name];
  return { ...PARAMS[name], headers: { ...JSON_HEADERS, traceparent: trace.traceparent } };
}

// The answer is in hand: its time on the test clock. Call right after the request.
function traceAnswered(trace) {
  if (trace) trace.answeredAt = exec.instance.currentTestRunDuration;
}

// Unix ms minus the test clock's ms, read at a tick of Date.now().
function unixMinusTestClock() {
  const before = Date.now();
  let now = before;
  while (now === before) now = Date.now();
  return now - exec.instance.currentTestRunDuration;
}

// The traced iteration's sample, once its checks are known; the metadata cleared after it.
function traceAccepted(trace, start, accepted) {
  if (!trace) return;
  const intended = start.begun - (start.lag || 0);
  if (unixMinusTestClockMs === null) unixMinusTestClockMs = unixMinusTestClock();
  const metadata = exec.vu.metrics.metadata;
  metadata.start = (unixMinusTestClockMs + intended).toFixed(3);
  metadata.accepted = accepted ? '1' : '0';
  // Its index, so that stack can move the intended start, read from the index, to the iteration's
  // own slot when k6 dropped arrivals before it (stats.rs, `net_of_drops`).
  if (start.lag !== null) metadata.i = String(start.iteration);
  // Where the contract says the answer is an acknowledgement, the work must show in the trace after it.
  if (DEFERS.has(exec.scenario.name.split('_')[0])) metadata.deferred = '1';
  TRACED_ANSWER.add(trace.answeredAt - intended);
  delete metadata.trace;
  delete metadata.start;
  delete metadata.accepted;
  delete metadata.i;
  delete metadata.deferred;
}

// Each scenario's own response times, so the summary reports them apart where several scenarios
// share one k6 run (smoke; k6's http_req_duration mixes them). A run of one scenario, as every run
// `stack bench` makes, has its http_req_duration for that: one sample fewer per request.
const LATENCY = Object.fromEntries(
  ALL.map((name) => [name, selected.length > 1 ? new Trend(`latency_${name}`, true) : { add() {} }]),
);

function post(url, body, params) {
  return http.post(url, JSON.stringify(body), params);
}

function field(res, path) {
  try {
    return res.json(path);
  } catch (_) {
    return undefined;
  }
}

export function s1() {
  // S1 register, waiting for the welcome email
  const start = arrival();
  const trace = traced();
  const email = `k6-${RUN}-${exec.scenario.name}-${exec.scenario.iterationInTest}@example.org`;
  const res = post(`${URLS.user}/register`, { email }, paramsOf('s1', trace));
  answered(start);
  traceAnswered(trace);
  LATENCY.s1.add(res.timings.duration);
  traceAccepted(trace, start, accepts('s1', res, { email }));
}

export function s2() {
  // S2 slow payment
  const start = arrival();
  const trace = traced();
  const res = post(`${URLS.payment}/process_payment`, { amount: 10 }, paramsOf('s2', trace));
  answered(start);
  traceAnswered(trace);
  LATENCY.s2.add(res.timings.duration);
  traceAccepted(trace, start, accepts('s2', res, { amount: 10 }));
}

export function s3() {
  // S3 product update with sequential fan-out
  const start = arrival();
  const trace = traced();
  const id = 1 + Math.floor(Math.random() * 100);
  const stock = Math.floor(Math.random() * 1000);
  const res = http.put(`${URLS.product}/products/${id}`, JSON.stringify({ stock }), paramsOf('s3', trace));
  answered(start);
  traceAnswered(trace);
  LATENCY.s3.add(res.timings.duration);
  traceAccepted(trace, start, accepts('s3', res, { id, stock }));
}

export function s4() {
  // S4 CPU-bound report
  const start = arrival();
  const trace = traced();
  const res = post(`${URLS.report}/generate_report`, {}, paramsOf('s4', trace));
  answered(start);
  traceAnswered(trace);
  LATENCY.s4.add(res.timings.duration);
  traceAccepted(trace, start, accepts('s4', res, {}));
}

export function s5() {
  // S5 order saga with compensation
  const start = arrival();
  const trace = traced();
  const order = { product_id: 1 + Math.floor(Math.random() * 100), quantity: 1 };
  const res = post(`${URLS.order}/create_order`, order, paramsOf('s5', trace));
  answered(start);
  traceAnswered(trace);
  LATENCY.s5.add(res.timings.duration);
  traceAccepted(trace, start, accepts('s5', res, order));
}

export function s6() {
  // S6 click ingestion
  const start = arrival();
  const trace = traced();
  const click = { user_id: exec.vu.idInTest, page: 'homepage' };
  const res = post(`${URLS.analytics}/track_click`, click, paramsOf('s6', trace));
  answered(start);
  traceAnswered(trace);
  LATENCY.s6.add(res.timings.duration);
  traceAccepted(trace, start, accepts('s6', res, click));
}
