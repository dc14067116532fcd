// The dashboard's only script: the operation page's live log and cancel button. Every page
// works without it; it adds what HTML alone cannot (a stream, a confirmation, a POST).
// @ts-check

const body = document.body;
const operationId = body.dataset.operationId;

/** @param {string} id */
const byId = (id) => document.getElementById(id);

/** @param {string} text */
const setLiveState = (text) => {
  const state = byId('live-state');
  if (state) state.textContent = text;
};

const ROLLBACK_LABELS = {
  none: 'none',
  in_progress: 'rolling back',
  succeeded: 'rolled back',
  failed: 'rollback failed',
};

/** The line as `opledger operation:logs` prints it (renderLogLine on the server). */
const renderLine = (line) =>
  `${line.at} ${line.level.toUpperCase().padEnd(5)} ${line.step ? `[${line.step}] ` : ''}${line.message}`;

const followLog = () => {
  const log = byId('log');
  if (!log || !operationId) return;
  // Lines already on the page: the stream replays the log from its start.
  const seen = new Set(
    [...log.querySelectorAll('.line')].map((el) => Number(el.getAttribute('data-revision'))),
  );
  const source = new EventSource(`/api/operations/${encodeURIComponent(operationId)}/events`);
  source.addEventListener('open', () => {
    body.dataset.live = 'on';
    setLiveState('Live: new lines appear as the operation writes them.');
  });
  source.addEventListener('log', (event) => {
    const line = JSON.parse(event.data);
    if (seen.has(line.revision)) return;
    seen.add(line.revision);
    const span = document.createElement('span');
    span.className = `line level-${line.level}`;
    span.dataset.revision = String(line.revision);
    span.textContent = `${renderLine(line)}\n`;
    log.append(span);
    span.scrollIntoView({ block: 'nearest' });
  });
  source.addEventListener('end', (event) => {
    source.close();
    const result = JSON.parse(event.data);
    const status = byId('status');
    if (status) {
      status.textContent = result.status;
      status.dataset.status = result.status;
    }
    const rollback = byId('rollback');
    if (rollback) {
      rollback.textContent = ROLLBACK_LABELS[result.rollback] ?? result.rollback;
      rollback.dataset.rollback = result.rollback;
    }
    const verdict = byId('verdict');
    if (verdict) {
      verdict.textContent = result.summary;
      verdict.classList.toggle('bad', result.rollback === 'failed');
    }
    byId('cancel-form')?.remove();
    body.dataset.live = 'ended';
    setLiveState('The operation has ended.');
  });
  source.addEventListener('failure', (event) => {
    source.close();
    const { error } = JSON.parse(event.data);
    body.dataset.live = 'failed';
    setLiveState(`The live log stopped: ${error.message}`);
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself (from the last line it got); say so meanwhile.
    if (body.dataset.live === 'on') setLiveState('Connection lost; reconnecting…');
  });
};

const USER_KEY = 'opledger.cancelUser';

const setUpCancel = () => {
  const form = /** @type {HTMLFormElement | null} */ (byId('cancel-form'));
  const input = /** @type {HTMLInputElement | null} */ (byId('cancel-user'));
  const status = byId('cancel-status');
  if (!form || !input || !status || !operationId) return;
  input.value = localStorage.getItem(USER_KEY) ?? '';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = input.value.trim();
    const type = body.dataset.operationType ?? 'operation';
    const sure = confirm(
      `Cancel ${type} ${operationId}? The steps it has done will be rolled back, in reverse.`,
    );
    if (!sure) return;
    localStorage.setItem(USER_KEY, user);
    const button = form.querySelector('button');
    if (button) button.disabled = true;
    status.textContent = 'Requesting cancellation…';
    try {
      const answer = await fetch(`/api/operations/${encodeURIComponent(operationId)}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ user }),
      });
      const reply = await answer.json();
      if (answer.ok) {
        status.textContent = reply.alreadyRequested
          ? 'Cancellation was already requested; the rollback follows in the log.'
          : `Cancellation requested by ${user}; the rollback follows in the log.`;
        status.dataset.state = 'requested';
      } else {
        status.textContent = `Not cancelled: ${reply.error?.message ?? answer.statusText}`;
        status.dataset.state = 'refused';
        if (button) button.disabled = false;
      }
    } catch (error) {
      status.textContent = `Not cancelled: ${error instanceof Error ? error.message : String(error)}`;
      status.dataset.state = 'refused';
      if (button) button.disabled = false;
    }
  });
};

if (body.dataset.live === 'pending') followLog();
setUpCancel();
