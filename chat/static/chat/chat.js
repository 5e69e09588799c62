// Speaks only the protocol in chat/protocol.py. All text goes in with textContent: nothing
// from a document or a model is ever parsed as HTML.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  const thread = document.getElementById("thread");
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const statusLine = document.getElementById("status");
  let conversationId = root.dataset.conversationId ? Number(root.dataset.conversationId) : null;
  let socket = null;
  let current = null;
  let pending = null;
  let retryDelay = 500;

  const VERDICT_TITLE = {
    unsupported: "No cited passage supports this sentence.",
    uncited: "This sentence cites no passage.",
  };

  // A small Markdown subset (paragraphs, lists, headings, bold, italics, code) built as DOM
  // nodes from text: no HTML from the model is ever parsed. Sentences the support check
  // did not confirm are wrapped and marked.
  function renderAnswer(target, text, markers, support) {
    target.textContent = "";
    const flagged = (support || []).filter(function (s) { return s.verdict !== "supported"; });
    const ctx = { text: text, markers: markers, flagged: flagged, target: target };
    let offset = 0;
    let list = null;
    let paragraph = null;
    for (const line of text.split("\n")) {
      const start = offset;
      offset += line.length + 1;
      if (!line.trim()) { list = null; paragraph = null; continue; }
      const bullet = /^\s*([-*+]|\d+[.)])\s+/.exec(line);
      const heading = /^#{1,6}\s+/.exec(line);
      if (bullet) {
        const ordered = /\d/.test(bullet[1]);
        if (!list || list.ordered !== ordered) {
          list = el(ordered ? "ol" : "ul");
          list.ordered = ordered;
          target.appendChild(list);
        }
        const item = el("li");
        list.appendChild(item);
        inline(ctx, item, start + bullet[0].length, start + line.length);
        paragraph = null;
        continue;
      }
      list = null;
      if (heading) {
        const h = el("p", "md-heading");
        target.appendChild(h);
        inline(ctx, h, start + heading[0].length, start + line.length);
        paragraph = null;
        continue;
      }
      if (paragraph) paragraph.appendChild(document.createElement("br"));
      else { paragraph = el("p"); target.appendChild(paragraph); }
      inline(ctx, paragraph, start, start + line.length);
    }
    if (flagged.length) {
      target.appendChild(el("p", "support-note", flagged.length === 1
        ? "1 sentence (dotted underline) is not supported by the passage it cites."
        : flagged.length + " sentences (dotted underline) are not supported by the passages they cite."));
    }
  }

  function inline(ctx, parent, from, to) {
    const pattern = /\*\*(.+?)\*\*|`([^`]+)`|(?:^|(?<=\W))[*_]([^*_\s](?:[^*_]*[^*_\s])?)[*_](?=\W|$)|\[(\d+)\]/g;
    const slice = ctx.text.slice(from, to);
    let last = 0;
    let match;
    while ((match = pattern.exec(slice)) !== null) {
      textRange(ctx, parent, from + last, from + match.index);
      if (match[4] !== undefined) {
        marker(ctx, parent, Number(match[4]));
      } else {
        const node = el(match[1] !== undefined ? "strong" : match[2] !== undefined ? "code" : "em");
        const inner = match[1] !== undefined ? match[1] : match[2] !== undefined ? match[2] : match[3];
        const innerStart = from + match.index + match[0].indexOf(inner);
        textRange(ctx, node, innerStart, innerStart + inner.length);
        parent.appendChild(node);
      }
      last = pattern.lastIndex;
    }
    textRange(ctx, parent, from + last, to);
  }

  function textRange(ctx, parent, from, to) {
    let cursor = from;
    for (const s of ctx.flagged) {
      if (s.end <= cursor || s.start >= to) continue;
      if (s.start > cursor) parent.appendChild(document.createTextNode(ctx.text.slice(cursor, s.start)));
      const end = Math.min(s.end, to);
      const span = el("span", "flagged " + s.verdict, ctx.text.slice(Math.max(s.start, cursor), end));
      let title = VERDICT_TITLE[s.verdict] || "";
      if (s.unsupported_numbers && s.unsupported_numbers.length) {
        title += " Not in the cited passage: " + s.unsupported_numbers.join(", ") + ".";
      }
      span.title = title;
      parent.appendChild(span);
      cursor = end;
    }
    if (cursor < to) parent.appendChild(document.createTextNode(ctx.text.slice(cursor, to)));
  }

  function marker(ctx, parent, n) {
    if (ctx.markers && !ctx.markers.has(n)) return;
    const ref = el("a", "marker", "[" + n + "]");
    ref.href = "#";
    ref.addEventListener("click", function (e) {
      e.preventDefault();
      const card = ctx.target.closest(".turn").querySelector('.source[data-marker="' + n + '"]');
      if (!card) return;
      card.scrollIntoView({ block: "nearest" });
      card.classList.add("flash");
      setTimeout(function () { card.classList.remove("flash"); }, 900);
      const quote = card.querySelector("blockquote");
      if (quote) quote.hidden = false;
    });
    parent.appendChild(ref);
  }

  function quoteWithHighlights(text, highlights) {
    const quote = el("blockquote");
    let cursor = 0;
    for (const [start, end] of highlights || []) {
      if (start < cursor || end > text.length) continue;
      quote.appendChild(document.createTextNode(text.slice(cursor, start)));
      quote.appendChild(el("mark", "", text.slice(start, end)));
      cursor = end;
    }
    quote.appendChild(document.createTextNode(text.slice(cursor)));
    return quote;
  }

  function details(turn, searched, question, support) {
    const old = turn.querySelector(".details");
    if (old) old.remove();
    const box = el("details", "details");
    box.appendChild(el("summary", "", "Details"));
    if (searched && searched !== question) box.appendChild(el("p", "", "Searched for: " + searched));
    if (support && support.length) {
      const ok = support.filter(function (s) { return s.verdict === "supported"; }).length;
      box.appendChild(el("p", "", "Support check: " + ok + " of " + support.length + " sentences supported by their cited passage."));
    }
    if (box.children.length > 1) turn.appendChild(box);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function startTurn(question) {
    const hint = thread.querySelector(".hint");
    if (hint) hint.remove();
    const turn = el("article", "turn");
    turn.appendChild(el("p", "question", question));
    const answer = el("div", "answer streaming");
    turn.appendChild(answer);
    const sources = el("ol", "sources");
    turn.appendChild(sources);
    thread.appendChild(turn);
    turn.scrollIntoView({ block: "end" });
    return { turn: turn, answer: answer, sources: sources, text: "" };
  }

  // The one renderer of citation cards: a new answer's (answer.citations) and stored ones (data-citations).
  function showCitations(sources, citations) {
    sources.textContent = "";
    for (const c of citations) {
      const gone = c.available === false;
      const item = el("li", gone ? "source gone" : "source");
      item.dataset.marker = c.marker;
      const heading = el("strong", "", "[" + c.marker + "] ");
      if (c.url) {
        const link = el("a", "", c.document_title);
        link.href = c.url;
        heading.appendChild(link);
      } else {
        heading.appendChild(document.createTextNode(c.document_title));
      }
      item.appendChild(heading);
      if (c.heading_path) item.appendChild(el("span", "where", c.heading_path));
      if (c.page) item.appendChild(el("span", "where", "page " + c.page));
      if (c.version) item.appendChild(el("span", "version " + c.version_state, c.version));
      if (!gone) item.appendChild(quoteWithHighlights(c.text, c.highlights));
      sources.appendChild(item);
    }
  }

  function urlFor(template, id) {
    return template.replace("/0/", "/" + id + "/");
  }

  function addConversationLink(id, title) {
    const list = document.querySelector(".history ul");
    const empty = list.querySelector(".muted");
    if (empty) empty.remove();
    for (const link of list.querySelectorAll("a[aria-current]")) link.removeAttribute("aria-current");
    const item = el("li");
    const link = el("a", "", title);
    link.href = urlFor(root.dataset.conversationUrl, id);
    link.setAttribute("aria-current", "page");
    item.appendChild(link);
    list.prepend(item);
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function addActions(turn, messageId, current) {
    const bar = el("div", "actions");
    const copy = el("button", "link", "Copy");
    copy.type = "button";
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(turn.querySelector(".answer").textContent).then(function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1500);
      });
    });
    bar.appendChild(copy);
    for (const [rating, label] of [["up", "Helpful"], ["down", "Not helpful"]]) {
      const button = el("button", "link rate" + (current === rating ? " chosen" : ""), label);
      button.type = "button";
      button.setAttribute("aria-pressed", current === rating ? "true" : "false");
      button.addEventListener("click", function () {
        const comment = rating === "down" ? (prompt("What was wrong? (optional)") || "") : "";
        const body = new URLSearchParams({ rating: rating, comment: comment });
        fetch(urlFor(root.dataset.feedbackUrl, messageId), { method: "POST", body: body, headers: { "X-CSRFToken": csrfToken() } })
          .then(function (response) {
            if (!response.ok) throw new Error();
            for (const other of bar.querySelectorAll(".rate")) { other.classList.remove("chosen"); other.setAttribute("aria-pressed", "false"); }
            button.classList.add("chosen");
            button.setAttribute("aria-pressed", "true");
          })
          .catch(function () { statusLine.textContent = "Your feedback could not be saved; try again."; });
      });
      bar.appendChild(button);
    }
    turn.appendChild(bar);
  }

  function setBusy(busy) {
    sendButton.hidden = busy;
    stopButton.hidden = !busy;
  }

  function handle(event) {
    switch (event.type) {
      case "answer.start":
        if (conversationId !== event.conversation_id) {
          history.replaceState(null, "", urlFor(root.dataset.conversationUrl, event.conversation_id));
          addConversationLink(event.conversation_id, event.title);
        }
        conversationId = event.conversation_id;
        if (current) { current.messageId = event.message_id; current.searched = event.standalone_question; }
        pending = null;
        statusLine.textContent = "";
        break;
      case "answer.delta":
        if (!current) return;
        current.text += event.text;
        renderAnswer(current.answer, current.text, null, null);
        break;
      case "answer.citations":
        if (!current) return;
        showCitations(current.sources, event.citations);
        current.markers = new Set(event.citations.map(function (c) { return c.marker; }));
        break;
      case "answer.end":
        if (current) {
          if (typeof event.answer === "string") current.text = event.answer;
          renderAnswer(current.answer, current.text, current.markers || new Set(), event.support);
          details(current.turn, current.searched, current.question, event.support);
          current.answer.classList.remove("streaming");
          if (event.status === "stopped") current.turn.appendChild(el("p", "muted", "(stopped)"));
          if (current.messageId) addActions(current.turn, current.messageId, "");
          if (current.sources.children.length === 0 && event.status === "complete") {
            current.turn.appendChild(el("p", "muted", "No passage was cited for this answer."));
          }
        }
        current = null;
        setBusy(false);
        input.focus();
        break;
      case "error":
        statusLine.textContent = event.message;
        if (current && !current.text) { current.turn.remove(); current = null; setBusy(false); }
        break;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
    socket.addEventListener("open", function () {
      retryDelay = 500;
      statusLine.textContent = "";
      if (pending) send(pending);
    });
    socket.addEventListener("message", function (message) { handle(JSON.parse(message.data)); });
    socket.addEventListener("close", function (e) {
      if (e.code === 4401) { location.href = root.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname); return; }
      if (e.code === 4429) { setBusy(false); return; }  // too many windows: the error frame said so; no retry loop
      if (current) {
        pending = pending || current.question;
        current.turn.remove();
        current = null;
        setBusy(false);
      }
      // Each failed retry lands here: keep saying that a typed question is waiting, not only that the line is down.
      statusLine.textContent = pending ? "Connection lost; reconnecting… your question will be sent." : "Connection lost; reconnecting…";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  function send(question) {
    current = startTurn(question);
    current.question = question;
    pending = question;
    setBusy(true);
    socket.send(JSON.stringify({ type: "question", text: question, conversation_id: conversationId }));
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const question = input.value.trim();
    if (!question || current) return;
    input.value = "";
    if (socket.readyState !== WebSocket.OPEN) {
      pending = question;
      statusLine.textContent = "Connecting… your question will be sent.";
      return;
    }
    send(question);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  stopButton.addEventListener("click", function () { socket.send(JSON.stringify({ type: "stop" })); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && current) { e.preventDefault(); stopButton.click(); }
  });
  for (const confirmed of document.querySelectorAll("form[data-confirm]")) {
    confirmed.addEventListener("submit", function (e) { if (!confirm(confirmed.dataset.confirm)) e.preventDefault(); });
  }

  for (const answer of thread.querySelectorAll(".answer[data-raw]")) {
    const turn = answer.closest(".turn");
    const sources = turn.querySelector(".sources");
    const citations = JSON.parse(sources.dataset.citations || "[]");
    showCitations(sources, citations);
    const markers = new Set(citations.map(function (c) { return c.marker; }));
    const support = JSON.parse(answer.dataset.support || "[]");
    renderAnswer(answer, answer.dataset.raw, markers, support);
    details(turn, turn.dataset.searched, turn.querySelector(".question").textContent, support);
    addActions(turn, turn.dataset.messageId, turn.dataset.feedback);
  }
  connect();
})();
