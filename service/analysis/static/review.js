// The healthcoop review page: renders one article (or one story) at a time from the JSON
// block. Every piece of article or record text goes in through textContent, never as markup.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("review-data").textContent);
  var ARTICLES = DATA.articles;
  var BY_ID = new Map(ARTICLES.map(function (a) { return [a.id, a]; }));
  // stories: events across articles (null when the page was written without events)
  var STORIES = DATA.stories || [];
  var STORY_BY_ID = new Map(STORIES.map(function (s) { return [s.id, s]; }));
  // "article id|item key" → the story its item is a mention of
  var STORY_OF_ITEM = new Map();
  STORIES.forEach(function (s) {
    s.mentions.forEach(function (m) {
      if (m.item) STORY_OF_ITEM.set(m.article_id + "|" + m.item, s);
    });
  });
  var PAGE = 50;
  var state = { party: "", field: "", status: "", q: "", page: 0, current: null,
                view: "articles", story: null, single: false, fromStory: null };

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

  function storyMatches(s) {
    if (!state.single && s.articles < 2) return false;
    if (state.party && s.parties.indexOf(state.party) < 0) return false;
    if (state.field && s.kind !== state.field) return false;
    if (state.status && s.status !== state.status &&
        !s.lifecycle.some(function (x) { return x.status === state.status; })) return false;
    if (state.q) {
      var hay = [s.id, s.title || "", s.forum || "", s.instrument || "", s.parties.join(" ")]
        .concat(s.mentions.map(function (m) { return m.article_id; })).join(" ").toLowerCase();
      if (hay.indexOf(state.q) < 0) return false;
    }
    return true;
  }

  function storiesShown() { return STORIES.filter(storyMatches); }

  // what the list shows: articles, or stories in the stories view
  function listed() { return state.view === "stories" ? storiesShown() : filtered(); }
  function currentId() { return state.view === "stories" ? state.story : state.current; }
  function open(id) { if (state.view === "stories") showStory(id); else show(id); }

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
    if (DATA.stories) {
      $("views").hidden = false;
      $("view-stories").textContent = "stories (" +
        STORIES.filter(function (s) { return s.articles > 1; }).length + ")";
      $("view-articles").addEventListener("click", function () { setView("articles"); });
      $("view-stories").addEventListener("click", function () { setView("stories"); });
      $("f-single").addEventListener("change", function (ev) {
        state.single = ev.target.checked;
        refilter();
      });
    }
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
    var list = listed();
    var current = currentId();
    if (list.length && !list.some(function (a) { return a.id === current; })) {
      open(list[0].id);
    } else {
      renderList();
      if (state.view === "stories") renderStory(STORY_BY_ID.get(state.story));
      else if (state.current) renderArticle(BY_ID.get(state.current));
    }
  }

  function turn(delta) {
    var pages = Math.max(1, Math.ceil(listed().length / PAGE));
    state.page = Math.min(pages - 1, Math.max(0, state.page + delta));
    renderList();
  }

  function step(delta) {
    var list = listed();
    var current = currentId();
    var at = list.findIndex(function (a) { return a.id === current; });
    var next = list[Math.min(list.length - 1, Math.max(0, at + delta))];
    if (next) open(next.id);
  }

  function setView(view) {
    state.view = view;
    $("view-articles").classList.toggle("on", view === "articles");
    $("view-stories").classList.toggle("on", view === "stories");
    $("article").hidden = view === "stories";
    $("story").hidden = view !== "stories";
    refilter();
  }

  // ------------------------------------------------------------ the list

  function renderList() {
    if (state.view === "stories") { renderStoryList(); return; }
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
    var from = state.fromStory && STORY_BY_ID.get(state.fromStory);
    if (from) {
      var back = el("button", "back", "\u2190 back to the story");
      back.type = "button";
      back.addEventListener("click", function () { openStory(from.id); });
      box.append(back);
    }
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
        var s = STORY_OF_ITEM.get(a.id + "|" + field + ":" + i.index);
        if (s && s.articles > 1) {
          var link = el("span", "story-link", "story: " + s.articles + " articles");
          link.dataset.story = s.id;
          link.addEventListener("click", function (ev) {
            ev.stopPropagation();
            openStory(s.id);
          });
          li.append(link);
        }
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

  // an article; `fromStory`: the story it was opened from (the record offers the way back)
  function show(id, fromStory) {
    var a = BY_ID.get(id);
    if (!a) return;
    state.fromStory = fromStory || null;
    if (state.view !== "articles") {
      state.view = "articles";
      $("view-articles").classList.add("on");
      $("view-stories").classList.remove("on");
      $("article").hidden = false;
      $("story").hidden = true;
    }
    state.current = id;
    var list = filtered();
    var at = list.findIndex(function (x) { return x.id === id; });
    if (at >= 0) state.page = Math.floor(at / PAGE);
    history.replaceState(null, "", "#a=" + encodeURIComponent(id));
    renderList();
    renderArticle(a);
  }

  // ------------------------------------------------------------ stories

  function storyHeadline(s) {
    var what = s.kind === "agreement" ? (s.instrument || "agreement") : "meeting";
    return s.parties.join(" + ") + " \u00b7 " + what + (s.status ? " \u00b7 " + s.status : "");
  }

  function storyWhen(s) {
    var date = s.date || (s.lifecycle.length ? s.lifecycle[0].date : null);
    return s.articles + (s.articles === 1 ? " article" : " articles") + (date ? " \u00b7 " + date : "");
  }

  function renderStoryList() {
    var list = storiesShown();
    var pages = Math.max(1, Math.ceil(list.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var ol = $("list");
    ol.replaceChildren();
    list.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (s) {
      var li = el("li", "entry story" + (s.id === state.story ? " current" : ""));
      li.dataset.story = s.id;
      // what tells apart several stories of one party set: a title, a forum, or a quote
      var quote = s.mentions.length ? s.mentions[0].quote : "";
      li.append(el("span", "entry-id", storyHeadline(s)),
                el("span", "entry-title", s.title || s.forum || quote),
                el("span", "entry-title", storyWhen(s)));
      li.addEventListener("click", function () { showStory(s.id); });
      ol.append(li);
    });
    var shown = STORIES.filter(function (s) { return state.single || s.articles > 1; }).length;
    $("count").textContent = list.length + " of " + shown + " stories" +
      (state.single ? " (events reported once too)" : " reported by more than one article");
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
  }

  function renderStory(s) {
    var box = $("story");
    box.replaceChildren();
    if (!s) {
      box.append(el("p", "missing", "No story matches the filters."));
      return;
    }
    box.dataset.story = s.id;
    var name = s.title || s.forum;
    box.append(el("h2", null, name || storyHeadline(s)));
    var place = [s.city, s.country].filter(Boolean).join(", ");
    box.append(el("div", "meta", [name ? storyHeadline(s) : null, s.date, place,
      s.title ? s.forum : null].filter(Boolean).join(" \u00b7 ")));
    box.append(el("div", "meta", s.id + " \u00b7 " + storyWhen(s)));
    if (s.lifecycle.length) {
      box.append(el("h3", null, "lifecycle"));
      var ol = el("ol", "lifecycle");
      s.lifecycle.forEach(function (x) {
        var a = BY_ID.get(x.article_id);
        ol.append(el("li", null, [x.status, x.date || "undated",
          "reported by " + ((a && a.title) || x.article_id)].join(" \u00b7 ")));
      });
      box.append(ol);
    }
    box.append(el("h3", null, "mentions (" + s.mentions.length + ")"));
    var ul = el("ul", "mentions");
    ul.id = "mentions";
    s.mentions.forEach(function (m, k) {
      var a = BY_ID.get(m.article_id);
      var field = m.item ? m.item.split(":")[0] : "";
      var li = el("li", "mention f-" + field + (m.found ? "" : " elsewhere"));
      li.dataset.article = m.article_id;
      li.dataset.item = m.item || "";
      var name = (a && a.title) ? a.title + " (" + m.article_id + ")" : m.article_id;
      if (m.found) {
        var link = el("a", null, name);
        link.href = "#a=" + encodeURIComponent(m.article_id) + "&item=" +
          encodeURIComponent(m.item);
        link.addEventListener("click", function (ev) {
          ev.preventDefault();
          openMention(s, k);
        });
        li.append(link);
      } else {
        li.append(el("strong", null, name), el("span", "warn", "not in these results"));
      }
      var meta = [m.published ? "published " + m.published : null, m.date, a && a.source]
        .filter(Boolean).join(" \u00b7 ");
      if (meta) li.append(el("span", "badge", meta));
      if (m.status) li.append(el("span", "badge", m.status));
      if (m.quote) li.append(el("q", null, m.quote));
      ul.append(li);
    });
    box.append(ul);
    if (s.because.length) {
      box.append(el("h3", null, "why these are one event"));
      s.because.forEach(function (b) { box.append(el("span", "chip", b)); });
    }
  }

  function showStory(id) {
    var s = STORY_BY_ID.get(id);
    if (!s) return;
    state.story = id;
    var list = storiesShown();
    var at = list.findIndex(function (x) { return x.id === id; });
    if (at >= 0) state.page = Math.floor(at / PAGE);
    history.replaceState(null, "", "#story=" + encodeURIComponent(id));
    renderList();
    renderStory(s);
  }

  // a story from anywhere (an item's link, "back to the story"): the stories view, showing
  // it even when it is reported once or the filters would hide it
  function openStory(id) {
    var s = STORY_BY_ID.get(id);
    if (!s) return;
    if (s.articles < 2) { state.single = true; $("f-single").checked = true; }
    state.view = "stories";
    $("view-articles").classList.remove("on");
    $("view-stories").classList.add("on");
    $("article").hidden = true;
    $("story").hidden = false;
    showStory(id);
  }

  // the article of a story's k-th mention, with that item's evidence highlighted
  function openMention(s, k) {
    var m = s.mentions[k];
    if (!m || !m.found) return;
    show(m.article_id, s.id);
    history.replaceState(null, "", "#a=" + encodeURIComponent(m.article_id) + "&item=" +
      encodeURIComponent(m.item));
    var li = document.querySelector('#record li.item[data-item="' + CSS.escape(m.item) + '"]');
    if (li) activate(m.item.split(":")[0], Number(m.item.split(":")[1]), li);
  }

  // deep links: #a=ID (an article), &item=meeting:0 (one of its items), the filters
  // (&party=IRN&field=agreement&status=signed&q=words), &overview=0 (pictures folded away);
  // #view=stories (the stories view), #story=EVENT_ID (one story), &mention=K (its k-th
  // mention opened, as a click on it would), &single=1 (events reported once too)
  function start() {
    setupFilters();
    var params = new URLSearchParams(location.hash.slice(1));
    if (params.get("single") === "1" && DATA.stories) {
      state.single = true;
      $("f-single").checked = true;
    }
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
    var storyId = params.get("story");
    if (DATA.stories && storyId !== null && STORY_BY_ID.has(storyId)) {
      openStory(storyId);
      var k = params.get("mention");
      if (k !== null) openMention(STORY_BY_ID.get(storyId), Number(k));
      return;
    }
    if (DATA.stories && params.get("view") === "stories") {
      setView("stories");
      return;
    }
    if (id !== null && BY_ID.has(id)) show(id);
    else if (list.length) show(list[0].id);
    else renderList();
    if (DATA.stories) $("view-articles").classList.add("on");
    var item = params.get("item");
    if (item) {
      var li = document.querySelector('#record li.item[data-item="' + CSS.escape(item) + '"]');
      if (li) activate(item.split(":")[0], Number(item.split(":")[1]), li);
    }
  }

  start();
  document.body.dataset.ready = "1";
})();
