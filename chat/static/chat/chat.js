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
  const notice = document.getElementById("notice");
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
    ref.setAttribute("aria-label", "Source " + n);
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

  // What a person needs to judge an answer, above it: a failed check, no source at all.
  function warnings(turn, status, support, citedCount, incomplete) {
    for (const old of turn.querySelectorAll(".warning")) old.remove();
    const answer = turn.querySelector(".answer");
    const flagged = (support || []).filter(function (s) { return s.verdict !== "supported"; }).length;
    const shown = [];
    if (flagged) {
      shown.push("Check before relying on this: " + (flagged === 1 ? "1 sentence (dotted underline) is" : flagged + " sentences (dotted underline) are")
        + " not backed by a cited passage.");
    }
    if (status === "complete" && citedCount === 0) shown.push("No source: this answer cites no passage of your documents.");
    if (incomplete) shown.push(incomplete);  // the server's words (chat/notes.py, incomplete_warning)
    for (const text of shown) turn.insertBefore(el("p", "warning", text), answer);
  }

  function versionLine(turn, note) {
    const old = turn.querySelector(".version-line");
    if (old) old.remove();
    if (note) turn.querySelector(".sources").after(el("p", "version-line", note));
  }

  // The answer without its closing dates note, which is shown under the sources instead.
  function withoutNote(text, note) {
    if (note && text.endsWith(note)) return text.slice(0, text.length - note.length).trimEnd();
    return text;
  }

  function details(turn, searched, question, support) {
    const old = turn.querySelector(".details");
    if (old) old.remove();
    const box = el("details", "details");
    box.appendChild(el("summary", "", "How this answer was checked"));
    if (searched && searched !== question) {
      box.appendChild(el("p", "", "Your question was completed from the conversation and searched as: “" + searched + "”."));
    }
    if (support && support.length) {
      const ok = support.filter(function (s) { return s.verdict === "supported"; }).length;
      box.appendChild(el("p", "", ok + " of " + support.length + (support.length === 1 ? " sentence is" : " sentences are")
        + " backed by the passage they cite: the product compared each sentence with its source."));
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
    const empty = thread.querySelector(".empty");
    if (empty) empty.remove();
    const turn = el("article", "turn");
    turn.appendChild(el("p", "question", question));
    const progress = el("p", "progress", "Searching your documents…");
    progress.setAttribute("role", "status");
    turn.appendChild(progress);
    const answer = el("div", "answer streaming");
    answer.setAttribute("aria-busy", "true");  // read out once whole, not token by token
    turn.appendChild(answer);
    const sources = el("ol", "sources");
    turn.appendChild(sources);
    thread.appendChild(turn);
    scrollToEnd();
    return { turn: turn, answer: answer, sources: sources, progress: progress, text: "" };
  }

  function scrollToEnd() {
    thread.scrollTop = thread.scrollHeight;
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
      if (!gone) {
        item.appendChild(quoteWithHighlights(c.text, c.highlights));
        if (!c.highlights || !c.highlights.length) {
          item.appendChild(el("p", "why", "Nothing highlighted: no sentence of the answer could be matched to particular words of this passage."));
        }
      }
      sources.appendChild(item);
    }
  }

  function urlFor(template, id) {
    return template.replace("/0/", "/" + id + "/");
  }

  // The first answer of a new conversation: its bar (rename, export, delete) now has something to act on.
  function showConversationBar(id, title) {
    const bar = document.getElementById("conversation-bar");
    document.getElementById("conversation-title").textContent = title;
    for (const f of bar.querySelectorAll("form")) f.action = urlFor(f.getAttribute("action"), id);
    const exportLink = document.getElementById("export");
    exportLink.href = urlFor(exportLink.getAttribute("href"), id);
    bar.hidden = false;
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

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      body: new URLSearchParams(fields),
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body.error || "That did not work; try again.");
        return body;
      });
    });
  }

  function button(className, label, onClick) {
    const b = el("button", className, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function addActions(turn, messageId, rated, status, question) {
    const old = turn.querySelector(".actions");
    if (old) old.remove();
    const bar = el("div", "actions");
    const said = el("span", "said");
    said.setAttribute("role", "status");
    if (status === "stopped" || status === "failed") {
      bar.appendChild(el("span", "ended", status === "stopped" ? "Stopped before the end." : "This answer failed."));
      bar.appendChild(button("link retry", "Retry", function () {
        if (current) return;
        if (!socket || socket.readyState !== WebSocket.OPEN) { statusLine.textContent = "Not connected yet; try again in a moment."; return; }
        send(question);
      }));
    }
    if (messageId && status !== "failed") {
      const copy = button("link", "Copy", function () {
        navigator.clipboard.writeText(turn.querySelector(".answer").textContent).then(function () {
          said.textContent = "Copied.";
        }, function () { said.textContent = "Could not copy; select the text instead."; });
      });
      bar.appendChild(copy);
      const rate = function (rating, comment) {
        return post(urlFor(root.dataset.feedbackUrl, messageId), { rating: rating, comment: comment || "" }).then(function () {
          for (const other of bar.querySelectorAll(".rate")) {
            const chosen = other.dataset.rating === rating;
            other.classList.toggle("chosen", chosen);
            other.setAttribute("aria-pressed", chosen ? "true" : "false");
          }
          said.textContent = "Thanks, your feedback was saved.";
        });
      };
      const helpful = button("link rate", "Helpful", function () {
        rate("up").catch(function (e) { said.textContent = e.message; });
      });
      const unhelpful = button("link rate", "Not helpful", function () {
        if (turn.querySelector(".comment")) return;
        bar.after(commentBox(rate, said));
      });
      for (const [b, rating] of [[helpful, "up"], [unhelpful, "down"]]) {
        b.dataset.rating = rating;
        b.classList.toggle("chosen", rated === rating);
        b.setAttribute("aria-pressed", rated === rating ? "true" : "false");
        bar.appendChild(b);
      }
    }
    bar.appendChild(said);
    turn.appendChild(bar);
  }

  // "Not helpful" asks what was wrong in the page, not in a dialog; the comment is optional.
  function commentBox(rate, said) {
    const form = el("form", "comment");
    const id = "comment-" + Math.random().toString(36).slice(2);
    const label = el("label", "", "What was wrong? (optional)");
    label.htmlFor = id;
    const box = el("textarea");
    box.id = id;
    box.rows = 2;
    box.maxLength = 2000;
    const save = el("button", "small", "Send feedback");
    save.type = "submit";
    const cancel = button("link", "Cancel", function () { form.remove(); });
    form.append(label, box, save, cancel);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      rate("down", box.value).then(function () { form.remove(); }, function (err) { said.textContent = err.message; });
    });
    form.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.stopPropagation(); form.remove(); } });
    setTimeout(function () { box.focus(); }, 0);
    return form;
  }

  // The one renderer of a finished turn: a new answer's (answer.end) and stored ones (data-*).
  function finish(turn, a) {
    renderAnswer(turn.querySelector(".answer"), withoutNote(a.text, a.versionNote), a.markers, a.support);
    warnings(turn, a.status, a.support, a.markers.size, a.incomplete);
    versionLine(turn, a.versionNote);
    details(turn, a.searched, a.question, a.support);
    addActions(turn, a.messageId, a.rated, a.status, a.question);
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
          if (conversationId === null) showConversationBar(event.conversation_id, event.title);
        }
        conversationId = event.conversation_id;
        if (current) {
          current.messageId = event.message_id;
          current.searched = event.standalone_question;
          current.progress.textContent = event.standalone_question && event.standalone_question !== current.question
            ? "Writing… (searched for “" + event.standalone_question + "”)" : "Writing…";
        }
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
          if (typeof event.answer === "string" && (event.answer || event.status === "complete")) current.text = event.answer;
          end(current, event.status, event.support, event.version_note || "", event.incomplete_warning || "");
        }
        break;
      case "error":
        if (current) {
          current.turn.appendChild(el("p", "error", event.message));
          end(current, "failed", null, "");
        } else {
          statusLine.textContent = event.message;
        }
        break;
    }
  }

  function end(turn, status, support, versionNote, incomplete) {
    finish(turn.turn, {
      text: turn.text, markers: turn.markers || new Set(), support: support, status: status, versionNote: versionNote,
      incomplete: incomplete || "",
      searched: turn.searched, question: turn.question, messageId: turn.messageId, rated: "",
    });
    turn.answer.classList.remove("streaming");
    turn.answer.setAttribute("aria-busy", "false");
    turn.progress.remove();
    current = null;
    setBusy(false);
    input.focus();
  }

  // Rename and delete in the page: a form that opens in place, a confirmation after each.
  function conversationTools() {
    const renameForm = document.getElementById("rename-form");
    const title = document.getElementById("conversation-title");
    const titleInput = document.getElementById("title");
    const renameOpen = document.getElementById("rename-open");
    const deleteForm = document.getElementById("delete-confirm");
    const deleteOpen = document.getElementById("delete-open");
    const say = function (text, isError) {
      notice.textContent = "";
      notice.appendChild(el("p", isError ? "error" : "", text));
    };
    const closeRename = function () { renameForm.hidden = true; renameOpen.hidden = false; renameOpen.focus(); };
    renameOpen.addEventListener("click", function () {
      deleteForm.hidden = true;
      renameForm.hidden = false;
      renameOpen.hidden = true;
      titleInput.value = title.textContent;
      titleInput.select();
      titleInput.focus();
    });
    document.getElementById("rename-cancel").addEventListener("click", closeRename);
    renameForm.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.stopPropagation(); closeRename(); } });
    renameForm.addEventListener("submit", function (e) {
      e.preventDefault();
      post(renameForm.action, { title: titleInput.value }).then(function (body) {
        title.textContent = body.title;
        const link = document.querySelector(".history a[aria-current]");
        if (link) link.textContent = body.title;
        document.title = body.title + " · Ask the handbook";
        closeRename();
        say("Renamed to “" + body.title + "”.");
      }, function (err) { say(err.message, true); });
    });
    deleteOpen.addEventListener("click", function () {
      renameForm.hidden = true;
      renameOpen.hidden = false;
      deleteForm.hidden = false;
      document.getElementById("delete-cancel").focus();
    });
    document.getElementById("delete-cancel").addEventListener("click", function () {
      deleteForm.hidden = true;
      deleteOpen.focus();
    });
  }

  // On a phone the conversation list is a drawer over the chat.
  function drawer() {
    const toggle = document.getElementById("drawer-toggle");
    const panel = document.getElementById("history");
    const backdrop = document.getElementById("backdrop");
    const set = function (open) {
      document.body.classList.toggle("drawer-open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      backdrop.hidden = !open;
      root.inert = open;  // keyboard focus stays in the open drawer (and the top bar that closes it)
      if (open) panel.querySelector("a").focus();
    };
    toggle.addEventListener("click", function () { set(!document.body.classList.contains("drawer-open")); });
    backdrop.addEventListener("click", function () { set(false); toggle.focus(); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && document.body.classList.contains("drawer-open")) { set(false); toggle.focus(); }
    });
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
  for (const answer of thread.querySelectorAll(".answer[data-raw]")) {
    const turn = answer.closest(".turn");
    const sources = turn.querySelector(".sources");
    const citations = JSON.parse(sources.dataset.citations || "[]");
    showCitations(sources, citations);
    finish(turn, {
      text: answer.dataset.raw, markers: new Set(citations.map(function (c) { return c.marker; })),
      support: JSON.parse(answer.dataset.support || "[]"), status: turn.dataset.status,
      versionNote: answer.dataset.versionNote, incomplete: answer.dataset.incomplete || "", searched: turn.dataset.searched,
      question: turn.querySelector(".question").textContent, messageId: turn.dataset.messageId, rated: turn.dataset.feedback,
    });
  }
  for (const example of thread.querySelectorAll(".example")) {
    example.addEventListener("click", function () {
      input.value = example.textContent;
      form.requestSubmit();
    });
  }
  conversationTools();
  drawer();
  scrollToEnd();
  if (!matchMedia("(pointer: coarse)").matches) input.focus();
  connect();
})();
