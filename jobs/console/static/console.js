// Progressive enhancement only: every page works without this file.
// A follow page polls its job and shows the state and progress until it finishes.
(function () {
  const box = document.querySelector('.follow');
  if (!box) return;
  const url = `/console/jobs/${encodeURIComponent(box.dataset.queue)}/${encodeURIComponent(box.dataset.job)}.json`;
  const stateEl = box.querySelector('.job-state');
  const bar = box.querySelector('.job-progress');
  const result = box.querySelector('.job-result');
  async function poll() {
    try {
      const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (!res.ok) { stateEl.textContent = `unknown (${res.status})`; return; }
      const s = await res.json();
      stateEl.textContent = s.state;
      bar.value = s.progress || 0;
      box.dataset.state = s.state;
      if (s.state === 'completed' || s.state === 'failed') {
        result.textContent = '';
        if (s.result && s.result.runId) {
          const a = document.createElement('a');
          a.href = `/console/runs/${s.result.runId}`;
          a.textContent = `open run ${s.result.runId}`;
          result.append(a);
        }
        if (s.failedReason) result.append(` ${s.failedReason}`);
        return;
      }
    } catch (e) { stateEl.textContent = 'connection lost, retrying'; }
    setTimeout(poll, 1000);
  }
  poll();
})();
