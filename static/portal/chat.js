// Streams answers from /ask/ (server-sent events over a POST fetch). Without JavaScript the
// form posts normally and the server renders the answer page.
(function () {
  "use strict";
  var form = document.getElementById("ask-form");
  if (!form || !window.fetch || !window.ReadableStream) { return; }
  var thread = document.getElementById("thread");
  var status = document.getElementById("status");
  var question = document.getElementById("question");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  // Escaped text; **bold**; [n] linked to the cited page (never a URL the model wrote).
  function renderAnswer(target, text, sources) {
    var urls = {};
    sources.forEach(function (s) { urls[s.number] = s.url; });
    target.textContent = "";
    text.split(/\n\s*\n/).forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim(); });
      if (!lines.length) { return; }
      var isList = lines.every(function (l) { return /^\s*([-*]|\d+[.)])\s+/.test(l); });
      var container = el(isList ? "ul" : "p");
      lines.forEach(function (line, i) {
        var holder = isList ? el("li") : container;
        if (!isList && i > 0) { holder.appendChild(el("br")); }
        var content = isList ? line.replace(/^\s*([-*]|\d+[.)])\s+/, "") : line;
        content.split(/(\[\d{1,2}\]|\*\*[^*]+\*\*)/).forEach(function (part) {
          var m = /^\[(\d{1,2})\]$/.exec(part);
          if (m) {
            if (urls[m[1]]) {
              var a = el("a", "cite", "[" + m[1] + "]");
              a.href = urls[m[1]];
              a.rel = "noopener";
              holder.appendChild(a);
            }
          } else if (/^\*\*[^*]+\*\*$/.test(part)) {
            holder.appendChild(el("strong", "", part.slice(2, -2)));
          } else if (part) {
            holder.appendChild(document.createTextNode(part));
          }
        });
        if (isList) { container.appendChild(holder); }
      });
      target.appendChild(container);
    });
  }

  function renderSources(target, sources) {
    target.textContent = "";
    if (!sources.length) { return; }
    target.appendChild(el("h3", "", form.dataset.sourcesLabel || "Sources"));
    var list = el("ol");
    sources.forEach(function (s) {
      var li = el("li");
      var a = el("a", "", s.title);
      a.href = s.url;
      a.hreflang = s.language;
      li.appendChild(a);
      li.appendChild(el("span", "section", " " + s.section + " "));
      li.appendChild(el("span", "lang", "(" + String(s.language).toUpperCase() + ")"));
      list.appendChild(li);
    });
    target.appendChild(list);
  }

  function parseEvents(buffer, onEvent) {
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (raw) {
      var kind = "message";
      var data = "";
      raw.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) { kind = line.slice(7); }
        else if (line.indexOf("data: ") === 0) { data += line.slice(6); }
      });
      if (data) { onEvent(kind, JSON.parse(data)); }
    });
    return rest;
  }

  document.querySelectorAll(".starter").forEach(function (button) {
    button.addEventListener("click", function () {
      question.value = button.dataset.question;
      question.focus();
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = question.value.trim();
    if (!text) { return; }
    var turn = el("article", "turn");
    turn.appendChild(el("h2", "question", text));
    var sourcesBox = el("section", "sources");
    var answerBox = el("div", "answer");
    answerBox.setAttribute("aria-busy", "true");
    turn.appendChild(sourcesBox);
    turn.appendChild(answerBox);
    thread.appendChild(turn);
    var sources = [];
    var raw = "";
    var data = new FormData(form);
    question.value = "";
    fetch(form.action, {
      method: "POST",
      body: data,
      headers: { "Accept": "text/event-stream", "X-CSRFToken": data.get("csrfmiddlewaretoken") },
      credentials: "same-origin"
    }).then(function (response) {
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function handle(kind, payload) {
        if (kind === "sources") { sources = payload.sources; renderSources(sourcesBox, sources); }
        else if (kind === "token") { raw += payload.text; renderAnswer(answerBox, raw, sources); }
        else if (kind === "done") {
          renderAnswer(answerBox, payload.answer, sources);
          answerBox.setAttribute("aria-busy", "false");
          document.getElementById("conversation").value = payload.conversation;
          status.textContent = answerBox.textContent;
        } else if (kind === "error") {
          answerBox.textContent = payload.message;
          answerBox.setAttribute("aria-busy", "false");
          status.textContent = payload.message;
        }
      }
      function pump() {
        return reader.read().then(function (result) {
          if (result.done) { return; }
          buffer = parseEvents(buffer + decoder.decode(result.value, { stream: true }), handle);
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      answerBox.textContent = form.dataset.errorLabel || "Error";
      answerBox.setAttribute("aria-busy", "false");
    });
  });
})();
