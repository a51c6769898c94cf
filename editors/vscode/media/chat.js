// The Chat view's page: renders the conversation and streamed tokens; posts what the user types.
// Runs inside the webview (no Node, no VS Code API beyond acquireVsCodeApi). Text is escaped
// before a small Markdown subset (code fences, inline code, bold) is rendered.
(function () {
  const vscode = acquireVsCodeApi();
  const log = document.getElementById('log');
  const form = document.getElementById('composer');
  const input = document.getElementById('input');
  const stop = document.getElementById('stop');
  const clear = document.getElementById('clear');
  const send = document.getElementById('send');
  const bubbles = new Map();

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  function renderInline(text) {
    return escapeHtml(text)
      .replace(/`([^`\n]+)`/g, '<code>$1</code>')
      .replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>');
  }

  function renderMarkdown(text) {
    const parts = text.split(/```/);
    let html = '';
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        const newline = part.indexOf('\n');
        const code = newline >= 0 ? part.slice(newline + 1) : part;
        html += '<pre><code>' + escapeHtml(code.replace(/\n$/, '')) + '</code></pre>';
      } else {
        part
          .split(/\n{2,}/)
          .filter((p) => p.trim())
          .forEach((p) => {
            html += '<p>' + renderInline(p).replace(/\n/g, '<br>') + '</p>';
          });
      }
    });
    return html;
  }

  function showEmpty() {
    if (!log.children.length) {
      const div = document.createElement('div');
      div.className = 'empty';
      div.textContent = 'Ask Mimi about your code. The active file and selection are sent along.';
      log.appendChild(div);
    }
  }

  function dropEmpty() {
    log.querySelectorAll('.empty').forEach((e) => e.remove());
  }

  function bubble(role, text, extra) {
    dropEmpty();
    const div = document.createElement('div');
    div.className = 'message ' + role;
    const head = document.createElement('div');
    head.className = 'role';
    head.textContent = role === 'user' ? 'You' : role === 'error' ? 'Error' : 'Mimi';
    if (extra) {
      const ctx = document.createElement('span');
      ctx.className = 'context';
      ctx.textContent = extra;
      head.appendChild(ctx);
    }
    const body = document.createElement('div');
    body.className = 'body';
    body.innerHTML = role === 'user' || role === 'error' ? '<p>' + renderInline(text).replace(/\n/g, '<br>') + '</p>' : renderMarkdown(text);
    div.appendChild(head);
    div.appendChild(body);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function setBusy(busy) {
    stop.hidden = !busy;
    send.disabled = busy;
  }

  function citations(div, list) {
    if (!list || !list.length) return;
    const box = document.createElement('div');
    box.className = 'citations';
    box.appendChild(document.createTextNode('Sources: '));
    list.forEach((c) => {
      const a = document.createElement('a');
      a.className = 'citation';
      a.textContent = c.label || c.uri;
      a.title = c.uri;
      a.addEventListener('click', () => vscode.postMessage({ type: 'open', uri: c.uri, range: c.range }));
      box.appendChild(a);
    });
    div.appendChild(box);
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    switch (m.type) {
      case 'history':
        log.innerHTML = '';
        (m.messages || []).forEach((h) => bubble(h.role, h.content));
        showEmpty();
        break;
      case 'user':
        bubble('user', m.text, m.context);
        break;
      case 'start': {
        const div = bubble('assistant', '');
        div.querySelector('.body').classList.add('streaming');
        bubbles.set(m.chatId, { div, text: '', deltas: 0 });
        setBusy(true);
        break;
      }
      case 'delta': {
        const b = bubbles.get(m.chatId);
        if (!b) break;
        b.text += m.delta;
        b.deltas += 1;
        b.div.dataset.deltas = String(b.deltas);
        b.div.querySelector('.body').innerHTML = renderMarkdown(b.text);
        log.scrollTop = log.scrollHeight;
        break;
      }
      case 'done': {
        const b = bubbles.get(m.chatId);
        if (!b) break;
        const body = b.div.querySelector('.body');
        body.classList.remove('streaming');
        body.innerHTML = renderMarkdown(m.reply || b.text);
        b.div.dataset.done = 'true';
        citations(b.div, m.citations);
        bubbles.delete(m.chatId);
        setBusy(false);
        log.scrollTop = log.scrollHeight;
        break;
      }
      case 'stopped':
      case 'error': {
        const b = bubbles.get(m.chatId);
        if (b) {
          b.div.querySelector('.body').classList.remove('streaming');
          if (!b.text) b.div.remove();
          bubbles.delete(m.chatId);
        }
        if (m.type === 'error') bubble('error', m.message);
        setBusy(false);
        break;
      }
      case 'clear':
        log.innerHTML = '';
        bubbles.clear();
        setBusy(false);
        showEmpty();
        break;
    }
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    vscode.postMessage({ type: 'send', text });
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
  clear.addEventListener('click', () => vscode.postMessage({ type: 'clear' }));

  showEmpty();
  vscode.postMessage({ type: 'ready' });
})();
