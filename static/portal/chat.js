// The chat page's behaviour: streamed answers, sources first, stop, copy, feedback, character count.
// Without JavaScript every form still posts and the server renders the same markup (progressive
// enhancement). Strings come from Django's JavaScript catalog (jsi18n), markup from <template>s
// rendered by the server, so nothing here needs inline script or style (strict CSP).
(function () {
  "use strict";
  var form = document.getElementById("ask-form");
  var thread = document.getElementById("thread");
  if (!form || !thread || !window.fetch || !window.ReadableStream || !window.AbortController) { return; }

  // Django's catalog (jsi18n) defines these; the fallbacks keep the page working in English without it.
  var gettext = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (s, values) {
    return s.replace(/%\((\w+)\)s/g, function (_, name) { return values[name]; });
  };
  var question = document.getElementById("question");
  var counter = document.getElementById("question-count");
  var stopButton = document.getElementById("stop-button");
  var announcer = document.getElementById("announcer");
  var conversationField = document.getElementById("conversation");
  var turnTemplate = document.getElementById("turn-template");
  var sourceTemplate = document.getElementById("source-template");
  var starters = document.getElementById("starters");
  var newConversation = document.getElementById("new-conversation");
  var exportLinks = document.getElementById("export-conversation");
  var lang = document.documentElement.lang || "en";
  // Luxembourg writes numbers like German (1.000); browsers have no "lb" number format.
  var numbers = new Intl.NumberFormat(lang === "lb" ? "de-LU" : lang);
  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var turnCount = 0;
  var current = null; // the turn being answered: {controller, node, ...}

  function csrfToken() { return form.querySelector("[name=csrfmiddlewaretoken]").value; }
  function role(root, name) { return root.querySelector("[data-role=\"" + name + "\"]"); }

  function announce(text) {
    if (!text) { return; }
    // Clearing first makes screen readers announce a text equal to the previous one too.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // --- Character counter ---------------------------------------------------------------------
  var max = counter ? parseInt(counter.dataset.max, 10) : 0;
  var nearAnnounced = false;
  function updateCounter() {
    if (!counter) { return; }
    var used = question.value.length;
    counter.hidden = false;
    counter.textContent = interpolate(gettext("%(used)s of %(max)s characters"), { used: numbers.format(used), max: numbers.format(max) }, true);
    counter.classList.toggle("near", max - used <= 50);
    if (max - used <= 50 && !nearAnnounced) {
      nearAnnounced = true;
      announce(interpolate(gettext("%(left)s characters left."), { left: numbers.format(max - used) }, true));
    } else if (max - used > 50) {
      nearAnnounced = false;
    }
  }
  question.addEventListener("input", updateCounter);
  updateCounter();
  question.addEventListener("keydown", function (event) {
    // Enter adds a line; Ctrl+Enter (or Cmd+Enter) asks, as in most chat tools.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // --- Rendering --------------------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  // Same rules as portal/templatetags/answer_format.py: escaped text, paragraphs, lists, **bold**,
  // and [n] linked to source n of this turn. The model never supplies a link.
  var BULLET = /^\s*([-*•]|\d+[.)])\s+/;
  // leadLang: the language of the first paragraph when it differs from the rest (a fallback notice).
  function renderAnswer(target, text, known, tid, leadLang) {
    target.textContent = "";
    text.trim().split(/\n\s*\n/).forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim(); });
      if (!lines.length) { return; }
      var isList = lines.every(function (l) { return BULLET.test(l); });
      var numbered = isList && lines.every(function (l) { return /^\s*\d+[.)]\s+/.test(l); });
      var container = el(isList ? (numbered ? "ol" : "ul") : "p");
      if (leadLang && !isList && !target.firstChild) { container.lang = leadLang; }
      lines.forEach(function (line, i) {
        var holder = isList ? el("li") : container;
        if (!isList && i > 0) { holder.appendChild(el("br")); }
        var content = (isList ? line.replace(BULLET, "") : line).trim();
        content.split(/(\[\d{1,2}\]|\*\*[^*]+\*\*)/).forEach(function (part) {
          var m = /^\[(\d{1,2})\]$/.exec(part);
          if (m) {
            if (known[m[1]]) {
              var a = el("a", "cite");
              a.href = "#source-" + tid + "-" + m[1];
              a.textContent = "[" + m[1] + "]";
              a.setAttribute("aria-label", gettext("Source") + " [" + m[1] + "]");
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

  function plain(text) { return text.replace(/\*\*/g, "").replace(/\s*\[\d{1,2}\]/g, "").replace(/^\s*([-*•]|\d+[.)])\s+/gm, ""); }

  function renderSources(turn, sources) {
    var list = role(turn.node, "source-list");
    list.textContent = "";
    turn.known = {};
    sources.forEach(function (s) {
      turn.known[s.number] = true;
      var item = sourceTemplate.content.firstElementChild.cloneNode(true);
      item.id = "source-" + turn.tid + "-" + s.number;
      var link = role(item, "link");
      link.href = s.url;
      link.hreflang = s.language;
      link.textContent = s.title;
      role(item, "section").textContent = s.section;
      var language = role(item, "language");
      language.textContent = s.language_name;
      language.lang = s.language;
      var updated = role(item, "updated");
      updated.textContent = s.updated;
      updated.dateTime = s.updated_iso;
      role(item, "updated-wrap").hidden = !s.updated;
      list.appendChild(item);
    });
    role(turn.node, "sources").hidden = !sources.length;
  }

  function setPhase(turn, phase, message) {
    turn.node.dataset.phase = phase;
    var progress = role(turn.node, "progress");
    progress.textContent = message || "";
    progress.hidden = !message;
  }

  function newTurn(text) {
    turnCount += 1;
    var tid = "live" + turnCount;
    var fragment = turnTemplate.content.cloneNode(true);
    // Template ids carry the placeholder TURN; each turn gets its own.
    fragment.querySelectorAll("[id],[for],[aria-labelledby],[aria-describedby]").forEach(function (node) {
      ["id", "for", "aria-labelledby", "aria-describedby"].forEach(function (name) {
        var value = node.getAttribute(name);
        if (value && value.indexOf("TURN") !== -1) { node.setAttribute(name, value.split("TURN").join(tid)); }
      });
    });
    var node = fragment.firstElementChild;
    role(node, "question-text").textContent = text;
    thread.appendChild(fragment);
    return { tid: tid, node: node, raw: "", known: {}, spoken: 0, answerId: null };
  }

  // --- Screen readers: whole sentences while streaming, then "complete" --------------------------
  function speakSentences(turn, text, final) {
    var words = plain(text);
    var upto = words.length;
    if (!final) {
      var boundary = -1;
      var re = /[.!?…:;](?=\s)/g;
      var m;
      while ((m = re.exec(words)) !== null) { boundary = m.index + 1; }
      upto = boundary;
    }
    if (upto > turn.spoken) {
      var sentence = words.slice(turn.spoken, upto).trim();
      turn.spoken = upto;
      if (final) { sentence = (sentence ? sentence + " " : "") + gettext("Answer complete."); }
      announce(sentence);
    } else if (final) {
      announce(gettext("Answer complete."));
    }
  }

  // --- Asking -------------------------------------------------------------------------------
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

  function finish(turn) {
    role(turn.node, "answer").setAttribute("aria-busy", "false");
    stopButton.hidden = true;
    if (current === turn) { current = null; }
  }

  function showTools(turn) {
    var tools = role(turn.node, "tools");
    tools.hidden = false;
    role(tools, "copy").hidden = false;
    role(tools, "answer-id").value = turn.answerId || "";
    role(tools, "conversation-id").value = conversationField.value;
    if (!turn.answerId) { role(tools, "feedback").hidden = true; }
  }

  function ask(text) {
    if (current) { return; }
    var turn = newTurn(text);
    current = turn;
    if (starters) { starters.hidden = true; }
    var answerBox = role(turn.node, "answer");
    answerBox.setAttribute("aria-busy", "true");
    setPhase(turn, "waiting", gettext("Searching the official pages…"));
    announce(gettext("Searching the official pages…"));
    turn.node.scrollIntoView({ behavior: reducedMotion ? "auto" : "smooth", block: "start" });

    var data = new FormData(form);
    data.set("question", text);
    turn.controller = new AbortController();
    stopButton.hidden = false;

    function handle(kind, payload) {
      if (kind === "queue") {
        setPhase(turn, "queued", payload.message);
        announce(payload.message);
      } else if (kind === "status") { // e.g. the second look: the answer takes longer, say why
        setPhase(turn, "sources", payload.message);
        announce(payload.message);
      } else if (kind === "sources") {
        renderSources(turn, payload.sources || []);
        if ((payload.sources || []).length) {
          setPhase(turn, "sources", gettext("Writing the answer…"));
          var n = payload.sources.length;
          announce(interpolate(ngettext("%(count)s source found. Writing the answer…", "%(count)s sources found. Writing the answer…", n), { count: numbers.format(n) }, true));
        }
      } else if (kind === "token") {
        turn.raw += payload.text;
        if (turn.node.dataset.phase !== "streaming") { setPhase(turn, "streaming", ""); }
        renderAnswer(answerBox, turn.raw, turn.known, turn.tid);
        speakSentences(turn, turn.raw, false);
      } else if (kind === "done") {
        turn.answerId = payload.answer_id;
        var verifiedBadge = turn.node.querySelector('[data-role="verified"]');
        if (verifiedBadge) { verifiedBadge.hidden = payload.status !== "verified"; }
        var bodyLang = payload.answer_language || payload.language;
        if (bodyLang) { answerBox.lang = bodyLang; }
        conversationField.value = payload.conversation;
        renderAnswer(answerBox, payload.answer || "", turn.known, turn.tid, bodyLang !== payload.language ? payload.language : "");
        if (plain(payload.answer || "").indexOf(plain(turn.raw).slice(0, turn.spoken)) !== 0) { turn.spoken = 0; }
        speakSentences(turn, payload.answer || "", true);
        setPhase(turn, payload.status === "cancelled" ? "stopped" : "done", payload.status === "cancelled" ? gettext("Stopped.") : "");
        showTools(turn);
        if (newConversation) { newConversation.hidden = false; }
        if (exportLinks && payload.answer_id) { // a stored conversation can be downloaded
          var exportUrl = exportLinks.dataset.url + "?conversation=" + encodeURIComponent(payload.conversation);
          document.getElementById("export-text").href = exportUrl;
          document.getElementById("export-json").href = exportUrl + "&format=json";
          exportLinks.hidden = false;
        }
        if (window.history && window.history.replaceState) {
          window.history.replaceState(null, "", window.location.pathname + "?conversation=" + encodeURIComponent(payload.conversation));
        }
        finish(turn);
      } else if (kind === "error") {
        answerBox.textContent = payload.message;
        setPhase(turn, "error", "");
        announce(payload.message);
        finish(turn);
      }
    }

    fetch(form.action, {
      method: "POST",
      body: data,
      headers: { "Accept": "text/event-stream", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      signal: turn.controller.signal
    }).then(function (response) {
      // A refusal (409 pending, 429 too many, 503 busy) arrives as one "error" event with its message.
      var isStream = (response.headers.get("Content-Type") || "").indexOf("text/event-stream") === 0;
      if (!response.body || (!response.ok && !isStream)) { throw new Error("HTTP " + response.status); }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (result) {
          if (result.done) {
            if (current === turn) { // the stream ended without "done": treat as an error
              handle("error", { message: gettext("The answer was interrupted. Please try again.") });
            }
            return;
          }
          buffer = parseEvents(buffer + decoder.decode(result.value, { stream: true }), handle);
          return pump();
        });
      }
      return pump();
    }).catch(function (error) {
      if (error && error.name === "AbortError") {
        setPhase(turn, "stopped", gettext("Stopped."));
        renderAnswer(answerBox, turn.raw, turn.known, turn.tid);
        announce(gettext("Stopped."));
      } else {
        answerBox.textContent = gettext("Something went wrong. Please try again, or contact the Guichet helpdesk.");
        setPhase(turn, "error", "");
        announce(answerBox.textContent);
      }
      finish(turn);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = question.value.trim();
    if (!text) {
      announce(gettext("Please type a question."));
      question.focus();
      return;
    }
    if (current) {
      announce(gettext("Please wait for the current answer, or stop it."));
      return;
    }
    question.value = "";
    updateCounter();
    ask(text);
  });

  stopButton.addEventListener("click", function () {
    if (current && current.controller) { current.controller.abort(); }
    question.focus();
  });

  var starterForm = document.getElementById("starter-form");
  if (starterForm) {
    starterForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      if (!button || !button.value || current) { return; }
      ask(button.value);
      question.focus();
    });
  }

  // --- Copy and feedback (delegated: turns are added as the conversation goes) ---------------
  thread.addEventListener("click", function (event) {
    var button = event.target.closest("[data-role=copy]");
    if (!button) { return; }
    var copy = role(button.closest("[data-role=turn]"), "answer");
    var blocks = Array.prototype.map.call(copy.querySelectorAll("p, li"), function (node) {
      return (node.tagName === "LI" ? "- " : "") + node.textContent.trim();
    });
    var text = blocks.length ? blocks.join("\n") : copy.textContent.trim();
    var done = function () { announce(gettext("Answer copied.")); button.textContent = gettext("Copied"); window.setTimeout(function () { button.textContent = gettext("Copy answer"); }, 2000); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { announce(gettext("Copying is not allowed by your browser.")); });
    }
  });

  thread.addEventListener("submit", function (event) {
    var feedback = event.target.closest("[data-role=feedback]");
    if (!feedback) { return; }
    event.preventDefault();
    var data = new FormData(feedback, event.submitter);
    var message = role(feedback, "feedback-message");
    fetch(feedback.action, {
      method: "POST",
      body: data,
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json();
    }).then(function (result) {
      message.textContent = result.message;
      message.classList.toggle("error", !result.ok);
      if (!result.ok) {
        if (result.outcome === "pii") { role(feedback, "comment").focus(); }
        return;
      }
      var up = data.get("rating") === "up";
      role(feedback, "up").setAttribute("aria-pressed", up ? "true" : "false");
      role(feedback, "down-summary").classList.toggle("chosen", !up);
      var down = role(feedback, "down");
      if (!up && down.open) { down.open = false; role(feedback, "down-summary").focus(); }
    }).catch(function () {
      message.textContent = gettext("Your feedback could not be sent. Please try again.");
      message.classList.add("error");
    });
  });
})();
