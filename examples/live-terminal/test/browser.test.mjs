// examples/live-terminal/test/browser.test.mjs: drives the live terminal in
// headless Chromium (puppeteer-core, Debian's chromium) against a running
// server.js and a cluster whose worker runs the runs (test/run-browser.sh
// starts them all).
//
//   role A signs in (after a wrong password is refused); a run of A's that
//   prints one line a second for 5 s, with approval '{commands}', shows up
//   in A's list and goes to waiting; the page shows the command with
//   approve/reject buttons; role B, signed in beside it, sees none of it
//   (list, events, SSE) and cannot approve it; A approves; "line 1" shows
//   in the page's terminal before the command ends (before its tool_result
//   is written, and seconds before "line 5"); the run is shown completed.
//   B starts a run from its page, which A never sees.  A rejects another
//   run's call with a note: it never runs, the run goes on to its end.
//   Signing out ends the session.
//
// Environment: APP_URL, ROLE_A, PASS_A, ROLE_B, PASS_B; PG* for the
// checks in the database (a superuser); CHROMIUM (default /usr/bin/chromium);
// WAIT_S (how long a run may take to reach a state, default 120);
// SCREENSHOT_DIR (pictures of A's page, waiting and completed).
// Output: "ok - " / "not ok - " lines; exit status 1 when a check failed.

import puppeteer from 'puppeteer-core';
import pg from 'pg';

const { APP_URL, ROLE_A, PASS_A, ROLE_B, PASS_B } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = Number(process.env.WAIT_S || 120) * 1000;
const NONCE = `${process.pid}-${Date.now() % 100000}`;

let failed = 0;
const ok = (name) => console.log(`ok - ${name}`);
const notok = (name, why) => { failed++; console.log(`not ok - ${name}${why ? `: ${why}` : ''}`); };
const check = (name, cond, why) => (cond ? ok(name) : notok(name, why));

const db = new pg.Client();   // the superuser, for what the test checks in the database
await db.connect();
const q = async (sql, args) => (await db.query(sql, args)).rows;

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  // root: no Chromium sandbox; /dev/shm may be small in a container
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  protocolTimeout: 240000,
});

// waitFor PAGE FN ARG: until FN(ARG) is true in the page (or WAIT_MS); true/false
async function waitFor(page, fn, arg, ms = WAIT_MS) {
  try {
    await page.waitForFunction(fn, { timeout: ms, polling: 100 }, arg);
    return true;
  } catch {
    return false;
  }
}
const text = (page, sel) => page.$eval(sel, (el) => el.textContent).catch(() => null);
const listed = (page) => page.$$eval('#runs li', (lis) => lis.map((li) => ({ id: li.dataset.id, status: li.dataset.status })));

async function signIn(page, role, password) {
  await page.goto(APP_URL, { waitUntil: 'load' });
  await page.waitForSelector('#signin:not([hidden])', { timeout: 30000 });
  await page.type('#role', role);
  await page.type('#password', password);
  await Promise.all([page.waitForNavigation({ timeout: 30000 }), page.click('#signin-button')]);
}

// SCREENSHOT_DIR=dir: pictures of A's page at its main steps
async function shot(page, name) {
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/${name}.png`, fullPage: true }).catch(() => {});
}

async function dump(page, label) {
  const body = await page.evaluate(() => document.body.innerText).catch((e) => `(${e.message})`);
  console.log(`# ${label}: the page says:\n${body.split('\n').map((l) => `#   ${l}`).join('\n')}`);
}

async function showEvents(id) {
  for (const e of await q('SELECT seq, kind, left(data::text, 200) AS d FROM agent_run_events WHERE run_id = $1 ORDER BY seq', [id])) {
    console.log(`#   ${e.seq} ${e.kind} ${e.d}`);
  }
}

let A, B, run;
try {
  const ctxA = await browser.createBrowserContext();
  const ctxB = await browser.createBrowserContext();   // its own cookies
  A = await ctxA.newPage();
  B = await ctxB.newPage();
  // every server-sent event B's page receives, to check none is about A's run
  await B.evaluateOnNewDocument(() => {
    window.sseSeen = [];
    const add = EventSource.prototype.addEventListener;
    EventSource.prototype.addEventListener = function (type, fn, opts) {
      return add.call(this, type, (m) => { window.sseSeen.push(`${type} ${m.data}`); fn(m); }, opts);
    };
  });
  const pageErrors = [];
  for (const [name, p] of [['A', A], ['B', B]]) p.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));

  // --- signing in ---------------------------------------------------------------
  await signIn(A, ROLE_A, 'not-the-password');
  const refused = await waitFor(A, () => /password authentication failed/.test(document.getElementById('signin-error').textContent), null, 15000);
  check('a wrong password is refused (PostgreSQL checks it)', refused, await text(A, '#signin-error'));

  await signIn(A, ROLE_A, PASS_A);
  check(`${ROLE_A} signs in`, await waitFor(A, (r) => document.getElementById('whoami').textContent === `signed in as ${r}`, ROLE_A, 30000),
        await text(A, '#whoami'));
  await signIn(B, ROLE_B, PASS_B);
  check(`${ROLE_B} signs in beside it (another browser context)`,
        await waitFor(B, (r) => document.getElementById('whoami').textContent === `signed in as ${r}`, ROLE_B, 30000), await text(B, '#whoami'));
  const cookie = (await ctxA.cookies(APP_URL)).find((c) => c.name === 'sid');
  check('the session cookie is HttpOnly and SameSite=Strict', cookie && cookie.httpOnly && cookie.sameSite === 'Strict',
        JSON.stringify(cookie));
  check('the page cannot read the session cookie', (await A.evaluate(() => document.cookie)) === '');

  // --- a run of A's that waits for approval -----------------------------------------
  const command = 'for i in 1 2 3 4 5; do echo line $i; sleep 1; done';
  const prompt = `Count to five slowly (${NONCE}).\n\`\`\`bash\n${command}\n\`\`\`\n`;
  const asA = new pg.Client({ user: ROLE_A, password: PASS_A });
  await asA.connect();
  run = (await asA.query("INSERT INTO agent_runs (prompt, approval) VALUES ($1, '{commands}') RETURNING id", [prompt])).rows[0].id;
  await asA.end();
  console.log(`# run ${run}`);

  check("the new run appears in A's list (LISTEN -> SSE)",
        await waitFor(A, (id) => !!document.querySelector(`#runs li[data-id="${id}"]`), run, 30000));
  await A.click(`#runs li[data-id="${run}"]`);
  const waiting = await waitFor(A, (id) => {
    const li = document.querySelector(`#runs li[data-id="${id}"]`);
    return li && li.dataset.status === 'waiting' && !document.getElementById('approval').hidden;
  }, run);
  check('the page shows the run waiting, with approve/reject buttons', waiting,
        `status in the database: ${(await q('SELECT status FROM agent_runs WHERE id = $1', [run]))[0]?.status}`);
  if (!waiting) { await dump(A, 'A'); await showEvents(run); throw new Error('the run never waited for approval'); }
  await shot(A, '1-waiting');
  check('the approval panel shows the command', (await text(A, '#approval-input')) === command, await text(A, '#approval-input'));
  check('the approval panel names the tool', (await text(A, '#approval-tool')) === 'run_command', await text(A, '#approval-tool'));
  check('the waiting step is listed', (await A.$$(`#steps li[data-kind="approval_requested"]`)).length === 1);
  check('nothing ran yet: the terminal has no output',
        !(await text(A, '#terminal')).includes('line 1'), await text(A, '#terminal'));

  // --- B sees none of it and cannot approve it ------------------------------------------
  const req = (await q("SELECT data FROM agent_run_events WHERE run_id = $1 AND kind = 'approval_requested' ORDER BY seq DESC LIMIT 1", [run]))[0];
  const callId = req && req.data.call_id;
  check('B\'s list does not have A\'s run', !(await listed(B)).some((r) => r.id === run), JSON.stringify(await listed(B)));
  const bEvents = await B.evaluate(async (id) => (await fetch(`/runs/${id}/events?after=0`)).json(), run);
  check("B's /runs/:id/events of A's run is empty", Array.isArray(bEvents) && bEvents.length === 0, JSON.stringify(bEvents).slice(0, 300));
  const bApprove = await B.evaluate(async ([id, call]) => {
    const r = await fetch(`/runs/${id}/approve`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                   body: JSON.stringify({ call_id: call, approved: true }) });
    return { status: r.status, body: await r.json() };
  }, [run, callId]);
  check("B's approve of A's call decides nothing", !(bApprove.status === 200 && bApprove.body.decided === true), JSON.stringify(bApprove));
  const still = (await q('SELECT status::text AS s FROM agent_runs WHERE id = $1', [run]))[0].s;
  const approvals = (await q("SELECT count(*)::int AS n FROM agent_run_events WHERE run_id = $1 AND kind = 'approval'", [run]))[0].n;
  check('A\'s run still waits, with no approval event', still === 'waiting' && approvals === 0, `status ${still}, ${approvals} approval events`);

  // --- A approves; the output streams in -------------------------------------------------
  // record when each line first shows in A's terminal (the page's clock is the machine's)
  await A.evaluate(() => {
    window.seenAt = {};
    const pre = document.getElementById('terminal');
    const look = () => {
      for (let i = 1; i <= 5; i++) {
        if (!window.seenAt[i] && pre.textContent.includes(`line ${i}\n`)) window.seenAt[i] = Date.now();
      }
    };
    new MutationObserver(look).observe(pre, { childList: true, characterData: true, subtree: true });
  });
  await A.type('#approval-note', `fine by me ${NONCE}`);
  const clickedAt = Date.now();
  await A.click('#approve');
  check('the approval is acknowledged in the page',
        await waitFor(A, () => document.getElementById('approval-message').textContent === 'approved', null, 30000),
        await text(A, '#approval-message'));
  check('the approval panel goes away', await waitFor(A, () => document.getElementById('approval').hidden, null, 30000));

  const sawLine1 = await waitFor(A, () => !!window.seenAt[1]);
  const sawLine5 = sawLine1 && await waitFor(A, () => !!window.seenAt[5]);
  const completed = await waitFor(A, (id) => {
    const li = document.querySelector(`#runs li[data-id="${id}"]`);
    return li && li.dataset.status === 'completed' && document.getElementById('run-status').textContent === 'completed';
  }, run);
  await shot(A, '2-completed');
  const seenAt = await A.evaluate(() => window.seenAt);
  const result = (await q(`SELECT (extract(epoch FROM at) * 1000)::float8 AS at FROM agent_run_events
                            WHERE run_id = $1 AND kind = 'tool_result' ORDER BY seq LIMIT 1`, [run]))[0];
  const outputs = (await q("SELECT count(*)::int AS n FROM agent_run_events WHERE run_id = $1 AND kind = 'tool_output'", [run]))[0].n;
  const resultAt = result ? Math.round(result.at) : null;
  console.log(`# approve clicked at 0 ms; line 1 shown at ${seenAt[1] - clickedAt} ms, line 5 at ${seenAt[5] - clickedAt} ms;` +
              ` tool_result written at ${resultAt === null ? '-' : resultAt - clickedAt} ms; ${outputs} tool_output events`);

  check('"line 1" appears in the terminal', sawLine1, await text(A, '#terminal'));
  check('"line 5" appears in the terminal', sawLine5, await text(A, '#terminal'));
  check('"line 1" is shown before the command ended (before its tool_result was written)',
        sawLine1 && resultAt !== null && seenAt[1] < resultAt, `line 1 at ${seenAt[1]}, tool_result at ${resultAt}`);
  check('"line 1" is shown at least 2 s before "line 5" (live, not all at the end)',
        sawLine5 && seenAt[5] - seenAt[1] >= 2000, `${seenAt[5] - seenAt[1]} ms apart`);
  check('the run wrote tool_output events while the command ran', outputs >= 2, `${outputs}`);
  check('the run is shown completed', completed,
        `page: ${await text(A, '#run-status')}; database: ${(await q('SELECT status::text AS s, error FROM agent_runs WHERE id = $1', [run]))[0]?.s}`);
  const term = await text(A, '#terminal');
  const lines = term.split('\n').filter((l) => /^line \d$/.test(l));
  check('the terminal shows each line once, in order', lines.join(',') === 'line 1,line 2,line 3,line 4,line 5', JSON.stringify(term));
  check('the terminal shows the command and its exit code', term.includes(`$ ${command}`) && /\[exit 0/.test(term), JSON.stringify(term));
  const ap = (await q("SELECT data FROM agent_run_events WHERE run_id = $1 AND kind = 'approval' ORDER BY seq", [run])).map((r) => r.data);
  check('one approval event: approved by A with the note',
        ap.length === 1 && ap[0].approved === true && ap[0].by === ROLE_A && ap[0].note === `fine by me ${NONCE}` && ap[0].call_id === callId,
        JSON.stringify(ap));
  if (!completed || !sawLine5) { await dump(A, 'A'); await showEvents(run); }
  console.log(`# the run's events: ${(await q('SELECT kind FROM agent_run_events WHERE run_id = $1 ORDER BY seq', [run])).map((e) => e.kind).join(', ')}`);

  // --- B never saw any of A's run; B's own run is not A's to see ----------------------------
  const bHtml = await B.content();
  check("B's page never had A's run (id, prompt or output)",
        !bHtml.includes(run) && !bHtml.includes(NONCE) && !bHtml.includes('line 1'));
  const bSse = (await B.evaluate(() => window.sseSeen)).join('\n');
  check("B's event stream carried nothing of A's run", bSse.length > 0 && !bSse.includes(run) && !bSse.includes('line 1'),
        bSse.slice(0, 300));
  await B.type('#prompt', `B's own question (${NONCE}-b): what is 6*7?`);
  await B.$eval('#ask', (el) => { el.checked = false; });
  await B.click('#new-run button[type="submit"]');
  const bRunShown = await waitFor(B, () => /^#[0-9a-f-]{36}$/.test(location.hash) &&
                                   !!document.querySelector(`#runs li[data-id="${location.hash.slice(1)}"]`), null, 30000);
  const bRun = bRunShown ? await B.evaluate(() => location.hash.slice(1)) : null;
  check('B starts a run from its page and sees it', bRunShown, await text(B, '#new-run-error'));
  if (bRun) {
    const owner = (await q('SELECT owner::text AS o FROM agent_runs WHERE id = $1', [bRun]))[0]?.o;
    check('B\'s run is owned by B (the server inserted it as B)', owner === ROLE_B, owner);
    check("B's run ends and is shown so", await waitFor(B, (id) => {
      const li = document.querySelector(`#runs li[data-id="${id}"]`);
      return li && ['completed', 'failed'].includes(li.dataset.status);
    }, bRun), JSON.stringify(await listed(B)));
    const aList = await listed(A);
    check("A's list has A's run and not B's", aList.some((r) => r.id === run) && !aList.some((r) => r.id === bRun), JSON.stringify(aList));
    check("A's page never had B's run", !(await A.content()).includes(`${NONCE}-b`));
  }
  // --- A rejects a call: it never runs, the model is told, the run goes on ----------------------
  const rejectCmd = 'echo rejected-$((6*7))';
  const asA2 = new pg.Client({ user: ROLE_A, password: PASS_A });
  await asA2.connect();
  const run2 = (await asA2.query("INSERT INTO agent_runs (prompt, approval) VALUES ($1, '{commands}') RETURNING id",
                                 [`Do not really (${NONCE}).\n\`\`\`bash\n${rejectCmd}\n\`\`\`\n`])).rows[0].id;
  await asA2.end();
  await A.waitForSelector(`#runs li[data-id="${run2}"]`, { timeout: 30000 });
  await A.click(`#runs li[data-id="${run2}"]`);
  const waiting2 = await waitFor(A, () => !document.getElementById('approval').hidden);
  check('a second run waits for approval', waiting2);
  if (waiting2) {
    await A.type('#approval-note', 'not today');
    await A.click('#reject');
    check('the rejection is acknowledged in the page',
          await waitFor(A, () => document.getElementById('approval-message').textContent === 'rejected', null, 30000),
          await text(A, '#approval-message'));
    const ended2 = await waitFor(A, (id) => {
      const li = document.querySelector(`#runs li[data-id="${id}"]`);
      return li && ['completed', 'failed'].includes(li.dataset.status);
    }, run2);
    const term2 = await text(A, '#terminal');
    check('the rejected run goes on to its end, shown in the page', ended2, JSON.stringify(await listed(A)));
    check('the terminal shows the rejection with its note, and no output of the command',
          /\[rejected by lt_a: not today\]/.test(term2.replace(ROLE_A, 'lt_a')) && !term2.includes('rejected-42'), JSON.stringify(term2));
    const r2 = (await q("SELECT data FROM agent_run_events WHERE run_id = $1 AND kind = 'tool_result'", [run2])).map((r) => r.data);
    check('the rejected command never ran (its result says so)',
          r2.length === 1 && !JSON.stringify(r2[0]).includes('rejected-42') && /not run/.test(r2[0].content || r2[0].error || ''),
          JSON.stringify(r2).slice(0, 400));
  }

  check('no script error in either page', pageErrors.length === 0, pageErrors.join('; '));

  // --- signing out ends the session ---------------------------------------------------------
  await Promise.all([A.waitForNavigation({ timeout: 30000 }), A.click('#logout button')]);
  check('signing out shows the sign-in form', await waitFor(A, () => !document.getElementById('signin').hidden, null, 15000));
  const after = await A.evaluate(async () => (await fetch('/runs')).status);
  check('after signing out, /runs answers 401', after === 401, String(after));
} catch (e) {
  notok('the browser test ran to its end', e.stack);
  if (A) await dump(A, 'A');
  if (run) await showEvents(run);
} finally {
  await browser.close().catch(() => {});
  await db.end().catch(() => {});
}
console.log(failed ? `# ${failed} check(s) failed` : '# all checks passed');
process.exit(failed ? 1 : 0);
