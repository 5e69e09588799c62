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

  function renderAnswer(target, text, markers) {
    target.textContent = "";
    const pattern = /\[(\d+)\]/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      target.appendChild(document.createTextNode(text.slice(last, match.index)));
      const n = Number(match[1]);
      if (!markers || markers.has(n)) {
        const ref = document.createElement("a");
        ref.className = "marker";
        ref.textContent = "[" + n + "]";
        ref.href = "#";
        ref.addEventListener("click", function (e) {
          e.preventDefault();
          const card = target.closest(".turn").querySelector('.source[data-marker="' + n + '"]');
          if (card) { card.scrollIntoView({ block: "nearest" }); card.classList.add("flash"); setTimeout(() => card.classList.remove("flash"), 900); }
        });
        target.appendChild(ref);
      }
      last = pattern.lastIndex;
    }
    target.appendChild(document.createTextNode(text.slice(last)));
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

  function showCitations(turn, citations) {
    turn.sources.textContent = "";
    for (const c of citations) {
      const item = el("li", "source");
      item.dataset.marker = c.marker;
      const heading = el("strong", "", "[" + c.marker + "] ");
      const link = el("a", "", c.document_title);
      link.href = c.url;
      heading.appendChild(link);
      item.appendChild(heading);
      if (c.heading_path) item.appendChild(el("span", "where", c.heading_path));
      if (c.page) item.appendChild(el("span", "where", "page " + c.page));
      item.appendChild(el("blockquote", "", c.text));
      turn.sources.appendChild(item);
    }
  }

  function addConversationLink(id, title) {
    const list = document.querySelector(".history ul");
    const empty = list.querySelector(".muted");
    if (empty) empty.remove();
    for (const link of list.querySelectorAll("a[aria-current]")) link.removeAttribute("aria-current");
    const item = el("li");
    const link = el("a", "", title);
    link.href = "/c/" + id + "/";
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
        fetch("/m/" + messageId + "/feedback", { method: "POST", body: body, headers: { "X-CSRFToken": csrfToken() } })
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
          history.replaceState(null, "", "/c/" + event.conversation_id + "/");
          addConversationLink(event.conversation_id, event.title);
        }
        conversationId = event.conversation_id;
        if (current) current.messageId = event.message_id;
        pending = null;
        statusLine.textContent = "";
        break;
      case "answer.delta":
        if (!current) return;
        current.text += event.text;
        renderAnswer(current.answer, current.text, null);
        break;
      case "answer.citations":
        if (current) showCitations(current, event.citations);
        current.markers = new Set(event.citations.map((c) => c.marker));
        break;
      case "answer.end":
        if (current) {
          if (typeof event.answer === "string") current.text = event.answer;
          renderAnswer(current.answer, current.text, current.markers || new Set());
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
      if (e.code === 4401) { location.href = "/login/?next=" + encodeURIComponent(location.pathname); return; }
      statusLine.textContent = "Connection lost; reconnecting…";
      if (current) {
        pending = pending || current.question;
        current.turn.remove();
        current = null;
        setBusy(false);
      }
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

  for (const answer of thread.querySelectorAll(".answer[data-raw]")) {
    const turn = answer.closest(".turn");
    const markers = new Set(Array.from(turn.querySelectorAll(".source")).map((s) => Number(s.dataset.marker)));
    renderAnswer(answer, answer.dataset.raw, markers);
    addActions(turn, turn.dataset.messageId, turn.dataset.feedback);
  }
  connect();
})();
