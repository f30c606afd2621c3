// graphile-worker side of bench/jobs.sh: the same no-op workload as `fanz bench jobs`.
//   node run.js postgres://…/fanz_bench_graphile_x [JOBS] [SINGLE_JOBS] [LATENCY_SAMPLES] [LATENCY_RATE]
// JOBS are enqueued in batches of 500 (add_jobs), SINGLE_JOBS one per statement (add_job).
// The database must be fresh (empty). Prints lines in the shape of fanz's.
"use strict";
const { run, runMigrations } = require("graphile-worker");
const { Pool } = require("pg");
const { performance } = require("perf_hooks");

const [connectionString, jobsArg, singleArg, samplesArg, rateArg] = process.argv.slice(2);
const JOBS = Number(jobsArg || 20000);
const SINGLE = Number(singleArg || 5000);
const SAMPLES = Number(samplesArg || 500);
const RATE = Number(rateArg || 200);
const CONCURRENCY = 8;
const BATCH = 500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The same percentile as fanz's bench: index round((n - 1) * p).
const pct = (sorted, p) => (sorted.length ? sorted[Math.round((sorted.length - 1) * p)] : 0);
// Quiet logger: graphile-worker logs every job at info level otherwise.
const logFactory = (scope) => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[${level}] ${message}`);
};
const { Logger } = require("graphile-worker");
const logger = new Logger(logFactory);

async function main() {
  if (!connectionString) throw new Error("usage: node run.js DATABASE_URL");
  const pool = new Pool({ connectionString, max: 2 });
  await runMigrations({ connectionString, logger });
  const left = async () =>
    Number((await pool.query("SELECT count(*) FROM graphile_worker._private_jobs")).rows[0].count);

  // Enqueue one job per statement (each its own transaction), no worker running.
  if (SINGLE > 0) {
    const t0 = performance.now();
    for (let i = 0; i < SINGLE; i++) {
      await pool.query("SELECT graphile_worker.add_job('noop', '{}'::json)");
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `enqueue on graphile-worker: ${SINGLE} jobs in batches of 1: ${(SINGLE / secs).toFixed(0)} jobs/s (${secs.toFixed(2)} s)`,
    );
    await pool.query("DELETE FROM graphile_worker._private_jobs");
  }

  // Enqueue JOBS in batches of BATCH, one add_jobs statement (its own transaction) per batch, as
  // fanz's --batch 500 does.
  {
    const t0 = performance.now();
    for (let done = 0; done < JOBS; done += BATCH) {
      await pool.query(
        `SELECT graphile_worker.add_jobs(array_agg(ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec))
           FROM generate_series(1, $1::int)`,
        [Math.min(BATCH, JOBS - done)],
      );
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `enqueue on graphile-worker: ${JOBS} jobs in batches of ${BATCH} (add_jobs): ${(JOBS / secs).toFixed(0)} jobs/s (${secs.toFixed(2)} s)`,
    );
  }

  // Completion: start the runner, poll every 20 ms until no job is left.
  const latencies = [];
  let ran = 0;
  const taskList = {
    noop: async (payload) => {
      ran++;
      if (payload && typeof payload.sent === "number") latencies.push(performance.now() - payload.sent);
    },
  };
  const t0 = performance.now();
  const runner = await run({
    connectionString,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList,
    logger,
  });
  while ((await left()) > 0) await sleep(20);
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `complete on graphile-worker: ${ran} jobs run, concurrency ${CONCURRENCY}, queue empty after ${secs.toFixed(2)} s: ${(ran / secs).toFixed(0)} jobs/s`,
  );

  // Commit-to-start latency: one job per statement at RATE/s, the send time in the payload
  // (performance.now(), same process, sub-millisecond), taken before the INSERT like fanz's.
  if (SAMPLES > 0) {
    const gap = 1000 / RATE;
    for (let i = 0; i < SAMPLES; i++) {
      await pool.query("SELECT graphile_worker.add_job('noop', json_build_object('sent', $1::float8))", [
        performance.now(),
      ]);
      await sleep(gap);
    }
    const deadline = performance.now() + 60000;
    while (latencies.length < SAMPLES && performance.now() < deadline) await sleep(20);
    const l = latencies.slice().sort((a, b) => a - b);
    console.log(
      `commit to handler start on graphile-worker, one job per statement at ${RATE}/s: p50 ${pct(l, 0.5).toFixed(2)} ms, p99 ${pct(l, 0.99).toFixed(2)} ms, max ${(l[l.length - 1] || 0).toFixed(2)} ms (${l.length} samples)`,
    );
  }
  await runner.stop();
  await pool.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
