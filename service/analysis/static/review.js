// The healthcoop review page: renders one article at a time from the JSON block.
// Every piece of article or record text goes in through textContent, never as markup.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("review-data").textContent);
  var ARTICLES = DATA.articles;
  var BY_ID = new Map(ARTICLES.map(function (a) { return [a.id, a]; }));
  var PAGE = 50;
  var state = { party: "", field: "", status: "", q: "", page: 0, current: null };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ------------------------------------------------------------ filters

  function itemMatches(i) {
    if (state.field && i.field !== state.field) return false;
    if (state.status && i.status !== state.status) return false;
    if (state.party && i.parties.indexOf(state.party) < 0) return false;
    return true;
  }

  function matches(a) {
    if (state.status === "error") return a.status === "error";
    if (state.status === "not relevant") return a.status === "ok" && !a.relevant;
    if (state.party && a.parties.indexOf(state.party) < 0) return false;
    if ((state.field || STATUS_OF_ITEMS[state.status]) && !a.items.some(itemMatches)) return false;
    if (state.q) {
      var hay = (a.id + " " + (a.title || "") + " " + (a.summary || "")).toLowerCase();
      if (hay.indexOf(state.q) < 0) return false;
    }
    return true;
  }

  var STATUS_OF_ITEMS = {};
  DATA.statuses.forEach(function (s) { STATUS_OF_ITEMS[s] = true; });
  var PLURAL = { party: "parties", official: "officials", meeting: "meetings",
                 agreement: "agreements", mechanism: "mechanisms" };

  function filtered() { return ARTICLES.filter(matches); }

  function fill(select, values) {
    values.forEach(function (v) {
      var o = el("option", null, v);
      o.value = v;
      select.append(o);
    });
  }

  function setupFilters() {
    var parties = new Set();
    ARTICLES.forEach(function (a) { a.parties.forEach(function (p) { parties.add(p); }); });
    fill($("f-party"), Array.from(parties).sort());
    fill($("f-field"), DATA.fields);
    fill($("f-status"), DATA.statuses.concat(["not relevant", "error"]));
    ["party", "field", "status"].forEach(function (name) {
      $("f-" + name).addEventListener("change", function (ev) {
        state[name] = ev.target.value;
        refilter();
      });
    });
    $("f-q").addEventListener("input", function (ev) {
      state.q = ev.target.value.trim().toLowerCase();
      refilter();
    });
    $("f-clear").addEventListener("click", function () {
      state.party = state.field = state.status = state.q = "";
      ["f-party", "f-field", "f-status", "f-q"].forEach(function (id) { $(id).value = ""; });
      refilter();
    });
    $("prev-page").addEventListener("click", function () { turn(-1); });
    $("next-page").addEventListener("click", function () { turn(1); });
    document.querySelectorAll('#network g[id^="net-node-"]').forEach(function (g) {
      g.addEventListener("click", function () {
        var code = g.id.slice("net-node-".length);
        $("f-party").value = code;
        state.party = $("f-party").value;
        refilter();
      });
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
      if (ev.key === "j" || ev.key === "k") step(ev.key === "j" ? 1 : -1);
    });
  }

  function refilter() {
    state.page = 0;
    var list = filtered();
    if (list.length && !list.some(function (a) { return a.id === state.current; })) {
      show(list[0].id);
    } else {
      renderList();
      if (state.current) renderArticle(BY_ID.get(state.current));
    }
  }

  function turn(delta) {
    var pages = Math.max(1, Math.ceil(filtered().length / PAGE));
    state.page = Math.min(pages - 1, Math.max(0, state.page + delta));
    renderList();
  }

  function step(delta) {
    var list = filtered();
    var at = list.findIndex(function (a) { return a.id === state.current; });
    var next = list[Math.min(list.length - 1, Math.max(0, at + delta))];
    if (next) show(next.id);
  }

  // ------------------------------------------------------------ the list

  function renderList() {
    var list = filtered();
    var pages = Math.max(1, Math.ceil(list.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var ol = $("list");
    ol.replaceChildren();
    list.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (a) {
      var li = el("li", "entry " + a.status + (a.id === state.current ? " current" : ""));
      li.dataset.id = a.id;
      var line = a.title || a.summary || (a.error ? a.error.type : "");
      li.append(el("span", "entry-id", a.id), el("span", "entry-title", line));
      li.addEventListener("click", function () { show(a.id); });
      ol.append(li);
    });
    $("count").textContent = list.length + " of " + ARTICLES.length + " articles";
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
  }

  // ------------------------------------------------------------ one article

  function segments(text, spans) {
    var cuts = new Set([0, text.length]);
    spans.forEach(function (s) { cuts.add(s.start); cuts.add(s.end); });
    var points = Array.from(cuts).sort(function (x, y) { return x - y; });
    var out = [];
    for (var k = 0; k + 1 < points.length; k++) {
      var a = points[k], b = points[k + 1];
      var cover = spans.filter(function (s) { return s.start <= a && s.end >= b; });
      out.push({ start: a, end: b, cover: cover });
    }
    return out;
  }

  function renderText(a) {
    var box = $("text");
    box.replaceChildren();
    if (a.text === null || a.text === undefined) {
      box.append(el("p", "missing",
        "The text of this article is not available: give the archive with --articles."));
      return;
    }
    segments(a.text, a.spans).forEach(function (seg) {
      var t = a.text.slice(seg.start, seg.end);
      if (!seg.cover.length) {
        box.append(document.createTextNode(t));
        return;
      }
      // coloured by the innermost span; an underline says more than one span covers it
      var inner = seg.cover.reduce(function (x, y) {
        return (y.end - y.start) < (x.end - x.start) ? y : x;
      });
      var m = el("mark", "hl f-" + inner.field + (seg.cover.length > 1 ? " multi" : ""), t);
      m.dataset.spans = seg.cover.map(function (s) { return s.key; }).join(" ");
      m.dataset.start = seg.start;
      m.dataset.end = seg.end;
      var fields = Array.from(new Set(seg.cover.map(function (s) { return s.field; })));
      m.title = fields.join(", ");
      if (state.field && fields.indexOf(state.field) < 0) m.classList.add("dim");
      box.append(m);
    });
  }

  function activate(field, index, li) {
    document.querySelectorAll(".active").forEach(function (e) { e.classList.remove("active"); });
    li.classList.add("active");
    var prefix = field + ":" + index + ":";
    var marks = Array.from(document.querySelectorAll("#text mark.hl")).filter(function (m) {
      return m.dataset.spans.split(" ").some(function (k) { return k.indexOf(prefix) === 0; });
    });
    marks.forEach(function (m) { m.classList.add("active"); });
    if (!marks.length) return;
    // scroll the text box (not the whole page) so the first span sits in its middle
    var box = $("text");
    var top = marks[0].getBoundingClientRect().top - box.getBoundingClientRect().top;
    box.scrollTop += top - box.clientHeight / 2;
    var r = box.getBoundingClientRect();
    if (r.bottom < 0 || r.top > window.innerHeight) box.scrollIntoView({ block: "start" });
  }

  function renderRecord(a) {
    var box = $("record");
    box.replaceChildren();
    box.append(el("h2", null, a.title || a.id));
    var meta = [a.id, a.published, a.source, a.url].filter(Boolean).join(" · ");
    box.append(el("div", "meta", meta));
    if (a.status === "error") {
      var err = el("div", "error-box");
      err.append(el("strong", null, (a.error && a.error.type) || "error"), el("div", null,
        (a.error && a.error.message) || ""));
      box.append(err);
      return;
    }
    box.append(el("div", "meta", (a.relevant ? "relevant" : "not relevant") + " · model " +
      (a.model || "?") + " · prompt " + (a.prompt_version || "?") +
      (a.text_from ? " · offsets into the " + a.text_from + "'s text" : "")));
    if (a.summary) box.append(el("p", null, a.summary));
    DATA.fields.forEach(function (field) {
      var items = a.items.filter(function (i) { return i.field === field; });
      if (!items.length) return;
      box.append(el("h3", null, PLURAL[field] + " (" + items.length + ")"));
      var ul = el("ul");
      items.forEach(function (i) {
        var li = el("li", "item f-" + field, i.label);
        li.dataset.item = field + ":" + i.index;
        if (i.status) li.append(el("span", "badge", i.status));
        if (i.unplaced) li.append(el("span", "warn", i.unplaced + " span(s) not at their offsets"));
        if (!i.grounded) li.append(el("span", "warn", "ungrounded"));
        if ((state.field || state.status || state.party) && !itemMatches(i)) li.classList.add("dim");
        li.addEventListener("click", function () { activate(field, i.index, li); });
        ul.append(li);
      });
      box.append(ul);
    });
    if (a.areas.length) {
      box.append(el("h3", null, "areas"));
      a.areas.forEach(function (x) { box.append(el("span", "chip", x)); });
    }
  }

  function renderArticle(a) {
    if (!a) return;
    renderText(a);
    renderRecord(a);
  }

  function show(id) {
    var a = BY_ID.get(id);
    if (!a) return;
    state.current = id;
    var list = filtered();
    var at = list.findIndex(function (x) { return x.id === id; });
    if (at >= 0) state.page = Math.floor(at / PAGE);
    history.replaceState(null, "", "#a=" + encodeURIComponent(id));
    renderList();
    renderArticle(a);
  }

  // deep links: #a=ID (an article), &item=meeting:0 (one of its items), the filters
  // (&party=IRN&field=agreement&status=signed&q=words), &overview=0 (pictures folded away)
  function start() {
    setupFilters();
    var params = new URLSearchParams(location.hash.slice(1));
    if (params.get("overview") === "0") $("overview").open = false;
    ["party", "field", "status"].forEach(function (name) {
      var v = params.get(name);
      if (v) {
        $("f-" + name).value = v;
        state[name] = $("f-" + name).value;
      }
    });
    if (params.get("q")) {
      $("f-q").value = params.get("q");
      state.q = params.get("q").trim().toLowerCase();
    }
    var list = filtered();
    var id = params.get("a");
    if (id !== null && BY_ID.has(id)) show(id);
    else if (list.length) show(list[0].id);
    else renderList();
    var item = params.get("item");
    if (item) {
      var li = document.querySelector('#record li.item[data-item="' + CSS.escape(item) + '"]');
      if (li) activate(item.split(":")[0], Number(item.split(":")[1]), li);
    }
  }

  start();
  document.body.dataset.ready = "1";
})();
