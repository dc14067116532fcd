// The dashboard's only script: the operation page's live log and cancel button. Every page
// reads without it; it adds what HTML alone cannot (a stream, a confirmation, a POST). Plain
// JavaScript served as is, so that the dashboard needs no bundler.

const body = document.body;
const operationId = body.dataset.operationId;

/** @param {string} id */
const byId = (id) => document.getElementById(id);

/** @param {string} text */
const setLiveState = (text) => {
  const state = byId('live-state');
  if (state) state.textContent = text;
};

/** The server's labels (pages/parts.ts), so that a live update reads as a reload would. */
const rollbackLabels = (() => {
  try {
    return JSON.parse(body.dataset.rollbackLabels ?? '{}');
  } catch {
    return {};
  }
})();

/** `2026-11-27 19:58:40Z`, as the pages show times. */
const shortTime = (iso) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

const apiPath = (suffix) => `/api/operations/${encodeURIComponent(operationId)}${suffix}`;

/** @param {string} id @param {string | undefined} iso */
const setTime = (id, iso) => {
  const cell = byId(id);
  if (!cell || !iso) return;
  const time = document.createElement('time');
  time.dateTime = iso;
  time.textContent = shortTime(iso);
  cell.replaceChildren(time);
};

/** @param {string} status @param {string} rollback */
const setState = (status, rollback) => {
  const statusCell = byId('status');
  if (statusCell) {
    statusCell.textContent = status;
    statusCell.dataset.status = status;
  }
  const rollbackCell = byId('rollback');
  if (rollbackCell) {
    rollbackCell.textContent = rollbackLabels[rollback] ?? rollback;
    rollbackCell.dataset.rollback = rollback;
  }
  // Once failed (rolling back or not) there is nothing left to cancel.
  if (status !== 'queued' && status !== 'running') byId('cancel-form')?.remove();
};

// Replies can come back out of order: only the newest request's is shown.
let refreshes = 0;

/** The operation's view from the API: its status and times as the log moves on. */
const refreshView = async () => {
  const mine = ++refreshes;
  try {
    const answer = await fetch(apiPath(''), { headers: { accept: 'application/json' } });
    if (!answer.ok) return false;
    const view = await answer.json();
    if (mine !== refreshes) return true;
    if (body.dataset.live !== 'ended') setState(view.status, view.rollback);
    setTime('started', view.startedAt);
    setTime('finished', view.finishedAt);
    return true;
  } catch {
    // A detail: the log itself goes on.
    return false;
  }
};

// At most one refresh per second, however fast lines come, and one after the last of a burst.
let refreshTimer;
const scheduleRefresh = () => {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    void refreshView();
  }, 1_000);
};

/** Shows how the operation ended: the result of the `end` event, and its times. */
const showEnd = (result) => {
  setState(result.status, result.rollback);
  const verdict = byId('verdict');
  if (verdict) {
    verdict.textContent = result.summary;
    verdict.classList.toggle('bad', result.rollback === 'failed');
  }
  byId('cancel-form')?.remove();
  body.dataset.live = 'ended';
  setLiveState('The operation has ended.');
  // The result has no times; the operation's view has (asked once more if that fails).
  clearTimeout(refreshTimer);
  void refreshView().then((shown) => {
    if (!shown) setTimeout(() => void refreshView(), 2_000);
  });
};

const followLog = () => {
  const log = byId('log');
  if (!log || !operationId) return;
  // Lines already on the page: the stream replays the log from its start.
  const seen = new Set(
    [...log.querySelectorAll('.line')].map((el) => Number(el.getAttribute('data-revision'))),
  );
  const source = new EventSource(apiPath('/events'));
  const stop = (state, text) => {
    source.close();
    body.dataset.live = state;
    setLiveState(text);
  };
  source.addEventListener('open', () => {
    body.dataset.live = 'on';
    setLiveState('Live: new lines appear as the operation writes them.');
  });
  source.addEventListener('log', (event) => {
    let line;
    try {
      line = JSON.parse(event.data);
    } catch {
      return stop('failed', 'The live log sent a line it could not read; reload the page.');
    }
    if (seen.has(line.revision)) return;
    seen.add(line.revision);
    // Keep following the end of the log only if the reader is there already.
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    const span = document.createElement('span');
    span.className = `line level-${line.level}`;
    span.dataset.revision = String(line.revision);
    span.textContent = `${line.text}\n`;
    log.append(span);
    if (atBottom) log.scrollTop = log.scrollHeight;
    scheduleRefresh();
  });
  source.addEventListener('end', (event) => {
    source.close();
    let result;
    try {
      result = JSON.parse(event.data);
    } catch {
      return stop('failed', 'The operation has ended; reload the page for its verdict.');
    }
    showEnd(result);
  });
  source.addEventListener('failure', (event) => {
    let message = 'an error';
    try {
      message = JSON.parse(event.data).error.message;
    } catch {
      // The message is a detail: the stream has stopped either way.
    }
    stop('failed', `The live log stopped: ${message}`);
  });
  source.addEventListener('error', () => {
    // Answered with an error instead of a stream (e.g. a 403), EventSource gives up for good;
    // after a dropped connection it reconnects by itself, from the last line it got.
    if (source.readyState === EventSource.CLOSED) {
      stop('failed', 'The live log is unavailable; reload the page to try again.');
    } else setLiveState('Connection lost; reconnecting…');
  });
};

const USER_KEY = 'opledger.cancelUser';

/** localStorage may be refused (privacy settings): remembering the user is only a convenience. */
const remembered = {
  get: () => {
    try {
      return localStorage.getItem(USER_KEY) ?? '';
    } catch {
      return '';
    }
  },
  set: (user) => {
    try {
      localStorage.setItem(USER_KEY, user);
    } catch {
      // Not remembered: asked again next time.
    }
  },
};

const setUpCancel = () => {
  const form = byId('cancel-form');
  const input = byId('cancel-user');
  const status = byId('cancel-status');
  if (!form || !input || !status || !operationId) return;
  form.addEventListener('submit', async (event) => {
    // First: whatever fails below, the browser must not submit the form itself.
    event.preventDefault();
    const user = input.value.trim();
    const type = body.dataset.operationType ?? 'operation';
    const sure = confirm(
      `Cancel ${type} ${operationId}? The steps it has done will be rolled back, in reverse.`,
    );
    if (!sure) return;
    remembered.set(user);
    const button = form.querySelector('button');
    if (button) button.disabled = true;
    status.textContent = 'Requesting cancellation…';
    const refused = (message) => {
      status.textContent = `Not cancelled: ${message}`;
      status.dataset.state = 'refused';
      if (button) button.disabled = false;
    };
    try {
      const answer = await fetch(apiPath('/cancel'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ user }),
      });
      const reply = await answer.json();
      if (!answer.ok) return refused(reply.error?.message ?? answer.statusText);
      status.textContent = reply.alreadyRequested
        ? 'Cancellation was already requested; the rollback follows in the log.'
        : `Cancellation requested by ${user}; the rollback follows in the log.`;
      status.dataset.state = 'requested';
    } catch (error) {
      refused(error instanceof Error ? error.message : String(error));
    }
  });
  input.value = remembered.get();
  // Shown only now: without this script the form could not cancel anything.
  form.hidden = false;
};

if (body.dataset.live === 'pending') followLog();
setUpCancel();
