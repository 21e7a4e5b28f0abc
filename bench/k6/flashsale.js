// flashsale.js: the TicketView flash sale of the Go harness (go run ./bench), for k6.
//
//   k6 run -e TOKEN=secret bench/k6/flashsale.js
//   k6 run -e TOKEN=secret -e SCENARIO=spike -e RATE=20 -e PEAK=400 bench/k6/flashsale.js
//
// Open model: buyers arrive at a rate (k6's arrival-rate executors), whatever the
// latency. Each iteration is one buyer (a new X-Buyer-ID, acting through the operator
// token): it holds seats (picked, best available or general admission), thinks, then
// buys (confirm) or lets go (release). See README.md for the environment variables.

import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

// ---- configuration (environment) ----

function env(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

function num(name, def) {
  const raw = env(name, String(def));
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) {
    throw new Error(`${name}=${raw}: want a number >= 0`);
  }
  return v;
}

// seconds parses a k6 duration ("90s", "2m", "1m30s", "500ms", "1h") or plain seconds.
function seconds(name, def) {
  const raw = env(name, def);
  if (/^\d+(\.\d+)?$/.test(raw)) {
    return Number(raw);
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  let used = 0;
  for (const m of raw.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]];
    used += m[0].length;
  }
  if (used !== raw.length || total <= 0) {
    throw new Error(`${name}=${raw}: want a duration such as 60s, 2m or 1m30s`);
  }
  return total;
}

const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TOKEN = env('TOKEN', '');
const EVENT = env('EVENT', 'harbour-nights-2027');
const ROWS = num('ROWS', 10);
const PER_ROW = num('PER_ROW', 30);
const SCENARIO = env('SCENARIO', 'constant');
const RATE = num('RATE', 50);
const PEAK = num('PEAK', 20 * RATE);
const DURATION = seconds('DURATION', '60s');
const BUY_RATIO = num('BUY_RATIO', 0.5);
const TTL_SECONDS = num('TTL_SECONDS', 0);
const P99_MS = num('P99_MS', 1000);
const MAX_VUS = num('MAX_VUS', 1000);

// SECTIONS: seated sections, "id" (ROWS x PER_ROW seats) or "id:ROWSxPER_ROW".
// The defaults are the demo event's (cmd/node -seed).
const SEATED = env('SECTIONS', 'floor-vip:10x30,balcony:40x60')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '')
  .map((s) => {
    const m = s.match(/^([^:]+)(?::(\d+)x(\d+))?$/);
    if (!m) {
      throw new Error(`SECTIONS: "${s}": want id or id:ROWSxPER_ROW`);
    }
    const rows = m[2] ? Number(m[2]) : ROWS;
    const perRow = m[3] ? Number(m[3]) : PER_ROW;
    if (rows < 1 || perRow < 1) {
      throw new Error(`SECTIONS: "${s}": a section needs at least one row of one seat`);
    }
    return { id: m[1], rows, perRow };
  });
const GA = env('GA_SECTIONS', 'standing')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');

// THINK_MS: "max" (0 to max) or "min-max", milliseconds.
const THINK = (() => {
  const raw = env('THINK_MS', '0-500');
  const m = raw.match(/^(\d+)(?:-(\d+))?$/);
  if (!m) {
    throw new Error(`THINK_MS=${raw}: want MAX or MIN-MAX (milliseconds)`);
  }
  const [lo, hi] = m[2] === undefined ? [0, Number(m[1])] : [Number(m[1]), Number(m[2])];
  if (hi < lo) {
    throw new Error(`THINK_MS=${raw}: MIN above MAX`);
  }
  return { lo, hi };
})();

// MIX: shares of pick, best available and general admission (percent, default 50/35/15).
// A kind without a section to ask in gives its share to the others.
const MIX = (() => {
  const raw = env('MIX', 'pick=50,best=35,ga=15');
  const mix = { pick: 0, best: 0, ga: 0 };
  for (const part of raw.split(',')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (!(k in mix) || !/^\d+(\.\d+)?$/.test(v || '')) {
      throw new Error(`MIX=${raw}: want pick=N,best=N,ga=N`);
    }
    mix[k] = Number(v);
  }
  if (SEATED.length === 0) {
    mix.pick = 0;
    mix.best = 0;
  }
  if (GA.length === 0) {
    mix.ga = 0;
  }
  const total = mix.pick + mix.best + mix.ga;
  if (total <= 0) {
    throw new Error('nothing to buy: give SECTIONS or GA_SECTIONS, and a MIX with a share for them');
  }
  return { pick: mix.pick / total, best: mix.best / total, ga: mix.ga / total };
})();

if (TOKEN === '') {
  throw new Error('TOKEN is required: the operator token of the node (its -admin-token)');
}
if (BUY_RATIO > 1) {
  throw new Error(`BUY_RATIO=${BUY_RATIO}: want a fraction between 0 and 1`);
}

// ---- scenarios ----

function scenarioOf(name) {
  const common = {
    timeUnit: '1s',
    preAllocatedVUs: Math.min(MAX_VUS, Math.max(10, Math.ceil(RATE * 2))),
    maxVUs: MAX_VUS,
    gracefulStop: '30s',
  };
  const s = (x) => `${Math.max(1, Math.round(x))}s`;
  switch (name) {
    case 'constant':
      return { executor: 'constant-arrival-rate', rate: RATE, duration: s(DURATION), ...common };
    case 'ramp': // from RATE to PEAK over the whole run
      return {
        executor: 'ramping-arrival-rate',
        startRate: RATE,
        stages: [{ target: PEAK, duration: s(DURATION) }],
        ...common,
      };
    case 'spike': {
      // RATE for 40% of the run, up to PEAK within seconds, held for 20%, back to RATE
      // within seconds, RATE until the end.
      const edge = Math.min(3, Math.max(1, DURATION * 0.05));
      const base = DURATION * 0.4;
      const peak = DURATION * 0.2;
      const rest = Math.max(1, DURATION - base - peak - 2 * edge);
      return {
        executor: 'ramping-arrival-rate',
        startRate: RATE,
        stages: [
          { target: RATE, duration: s(base) },
          { target: PEAK, duration: s(edge) },
          { target: PEAK, duration: s(peak) },
          { target: RATE, duration: s(edge) },
          { target: RATE, duration: s(rest) },
        ],
        ...common,
      };
    }
    default:
      throw new Error(`SCENARIO=${name}: want constant, ramp or spike`);
  }
}

// ---- metrics ----

const trends = {
  hold_pick: new Trend('hold_pick', true),
  hold_best: new Trend('hold_best', true),
  hold_ga: new Trend('hold_ga', true),
  release: new Trend('release', true),
  confirm: new Trend('confirm', true),
};
const holds = new Counter('holds'); // acknowledged holds
const heldPlaces = new Counter('held_places');
const sales = new Counter('sales'); // acknowledged bookings
const soldPlaces = new Counter('sold_places');
const conflicts = new Counter('conflicts'); // clean losses (409)
const errors = new Counter('errors'); // anything else that was not a success

// A 409 is the clean loss of a flash sale, not a failure of the server.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409));

export const options = {
  scenarios: { [SCENARIO]: scenarioOf(SCENARIO) },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    hold_pick: [`p(99)<${P99_MS}`],
    hold_best: [`p(99)<${P99_MS}`],
    hold_ga: [`p(99)<${P99_MS}`],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'p(99.9)', 'max'],
  // Tokens are in the URLs: every request is tagged with its kind instead.
  systemTags: ['status', 'method', 'name', 'scenario', 'expected_response', 'error_code'],
};

// ---- the buyer ----

// setup checks that the event is there and returns the run's id, which makes the buyers
// of this run new to the node (the per-buyer limit counts across runs).
export function setup() {
  const res = http.get(`${BASE_URL}/api/v1/events/${encodeURIComponent(EVENT)}`, { tags: { name: 'event' } });
  if (res.status !== 200) {
    throw new Error(`GET /api/v1/events/${EVENT}: ${res.status} ${res.body}: is the node up with the event? (see README.md)`);
  }
  const known = {};
  for (const s of res.json('sections') || []) {
    known[s.id] = s.kind;
  }
  for (const s of SEATED) {
    if (known[s.id] !== 'seated') {
      throw new Error(`section ${s.id} is not a seated section of ${EVENT}`);
    }
  }
  for (const id of GA) {
    if (known[id] !== 'general_admission') {
      throw new Error(`section ${id} is not a general-admission section of ${EVENT}`);
    }
  }
  return { run: Date.now().toString(36) };
}

function pickOne(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function between(lo, hi) {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

// rowLabel is the label of row r (0-based): A..Z, AA, AB, ... (load.RowLabel).
function rowLabel(r) {
  let s = '';
  for (let n = r; n >= 0; n = Math.floor(n / 26) - 1) {
    s = String.fromCharCode(65 + (n % 26)) + s;
  }
  return s;
}

// frontRow draws a row, front rows likelier: a geometric law truncated to the rows,
// with a quarter of the rows as its mean.
function frontRow(rows) {
  const p = Math.min(0.5, 4 / rows);
  const u = Math.random() * (1 - Math.pow(1 - p, rows));
  return Math.min(rows - 1, Math.floor(Math.log(1 - u) / Math.log(1 - p)));
}

// pickSeats chooses n adjacent seats in a front-weighted row of the section.
function pickSeats(sec, n) {
  const r = frontRow(sec.rows);
  const k = Math.min(n, sec.perRow);
  const first = between(0, sec.perRow - k);
  const seats = [];
  for (let i = 0; i < k; i++) {
    seats.push(`${rowLabel(r)}-${first + i + 1}`);
  }
  return seats;
}

function sectionURL(section) {
  return `${BASE_URL}/api/v1/events/${encodeURIComponent(EVENT)}/sections/${encodeURIComponent(section)}`;
}

function params(buyer, kind) {
  return {
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      'X-Buyer-ID': buyer,
      'Content-Type': 'application/json',
    },
    tags: { name: kind },
  };
}

// count records a request of a kind; it returns the answer's status.
function count(kind, res) {
  trends[kind].add(res.timings.duration);
  if (res.status === 409) {
    conflicts.add(1, { kind });
  } else if (res.status < 200 || res.status > 299) {
    errors.add(1, { kind, status: String(res.status) });
  }
  return res.status;
}

function hold(buyer, kind, section, body) {
  if (TTL_SECONDS > 0) {
    body.ttl_seconds = TTL_SECONDS;
  }
  const res = http.post(`${sectionURL(section)}/holds`, JSON.stringify(body), params(buyer, kind));
  if (count(kind, res) !== 201) {
    return { status: res.status };
  }
  const h = res.json();
  holds.add(1, { kind });
  heldPlaces.add(h.quantity || 0, { kind });
  return { status: 201, token: h.token, section, quantity: h.quantity || 0 };
}

function chooseKind() {
  const u = Math.random();
  if (u < MIX.pick) {
    return 'hold_pick';
  }
  if (u < MIX.pick + MIX.best) {
    return 'hold_best';
  }
  return 'hold_ga';
}

// One iteration: one buyer.
export default function (data) {
  const buyer = `k6-${data.run}-${exec.scenario.iterationInTest}`;
  const n = between(1, 4);
  const kind = chooseKind();
  let h;
  switch (kind) {
    case 'hold_pick': {
      const sec = pickOne(SEATED);
      h = hold(buyer, kind, sec.id, { seats: pickSeats(sec, n) });
      if (h.status === 409) {
        // Someone was faster: one more try, with another pick.
        const again = pickOne(SEATED);
        h = hold(buyer, kind, again.id, { seats: pickSeats(again, n) });
      }
      break;
    }
    case 'hold_best':
      h = hold(buyer, kind, pickOne(SEATED).id, { best_available: true, allow_split: true, quantity: n });
      break;
    default:
      h = hold(buyer, kind, pickOne(GA), { quantity: n });
  }
  if (h.status !== 201) {
    return;
  }
  sleep(between(THINK.lo, THINK.hi) / 1000);
  const url = `${sectionURL(h.section)}/holds/${encodeURIComponent(h.token)}`;
  if (Math.random() < BUY_RATIO) {
    const ref = `k6-${data.run}-${exec.scenario.iterationInTest}`;
    const res = http.post(`${url}/confirm`, JSON.stringify({ payment_ref: ref }), params(buyer, 'confirm'));
    if (count('confirm', res) === 201) {
      sales.add(1);
      soldPlaces.add(res.json('quantity') || h.quantity);
    }
  } else {
    count('release', http.del(url, null, params(buyer, 'release')));
  }
}
