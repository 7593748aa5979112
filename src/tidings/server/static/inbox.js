/*
 * tidings embeddable inbox: a bell with a badge of unseen notifications and a live,
 * tabbed list of in-app notifications. Plain JavaScript, no build step, no
 * dependencies; TypeScript declarations are served beside it at /inbox.d.ts.
 *
 * As a web component:
 *
 *   <script src="https://api.example.com/inbox.js"></script>
 *   <tidings-inbox base-url="https://api.example.com" token="<inbox token>" locale="vi">
 *   </tidings-inbox>
 *
 * Give it a fresh token by setting the attribute (el.setAttribute("token", t)) or the
 * property el.getToken = () => fetch("/me/inbox-token").then((r) => r.text()).
 *
 * Or mounted on any element, as before:
 *
 *   TidingsInbox.mount(document.getElementById("inbox"), {
 *     baseUrl: "https://api.example.com",   // where the tidings API is served
 *     token: "<inbox token from your backend: app.inbox_token(user_id)>",
 *     getToken: () => fetch("/me/inbox-token").then((r) => r.text()),  // refresh
 *     locale: "vi",                          // "vi" or "en" (default: the page's)
 *   });
 *
 * Tabs: Unread, All, Archived. Opening the panel marks what it shows as seen (the badge
 * counts the unseen); clicking an item marks it read; each item can be marked unread,
 * archived (or moved back) and snoozed (in 1 hour, tomorrow 08:00 or next Monday 08:00
 * in the recipient's timezone: it comes back unread then, pushed by the server). The
 * gear opens the recipient's preference centre. Every change made in one tab or device
 * reaches the others through GET /api/v1/inbox/stream (Server-Sent Events), which
 * resumes after a dropped connection from the last event it delivered.
 *
 * Keyboard: Tab reaches the bell, the tabs (arrow keys move between them), each item and
 * its buttons; Escape closes a snooze menu, then the panel. Text is always set with
 * textContent (never parsed as HTML).
 */
(function (global) {
  "use strict";

  var STRINGS = {
    en: {
      title: "Notifications",
      bell: function (n) { return n ? "Notifications, " + n + " new" : "Notifications"; },
      tabs: { unread: "Unread", all: "All", archived: "Archived" },
      empty: {
        unread: "You are all caught up.",
        all: "No notifications yet.",
        archived: "Nothing archived.",
      },
      markAll: "Mark all as read",
      markRead: "Mark as read",
      markUnread: "Mark as unread",
      archive: "Archive",
      unarchive: "Move to inbox",
      snooze: "Snooze",
      snoozeIn1h: "In 1 hour",
      snoozeTomorrow: "Tomorrow, 08:00",
      snoozeNextWeek: "Next week (Monday, 08:00)",
      snoozed: "Snoozed",
      answered: function (action, who) { return "Answered: " + action + " (by " + who + ")"; },
      closed: "This question has closed.",
      preferences: "Notification preferences",
      unread: function (n) { return n === 1 ? "1 unread" : n + " unread"; },
      offline: "Reconnecting…",
      stopped: "Live updates stopped: reload the page to resume.",
      more: "Load more",
    },
    vi: {
      title: "Thông báo",
      bell: function (n) { return n ? "Thông báo, " + n + " mới" : "Thông báo"; },
      tabs: { unread: "Chưa đọc", all: "Tất cả", archived: "Lưu trữ" },
      empty: {
        unread: "Bạn đã xem hết thông báo.",
        all: "Chưa có thông báo nào.",
        archived: "Chưa lưu trữ gì.",
      },
      markAll: "Đánh dấu tất cả là đã đọc",
      markRead: "Đánh dấu đã đọc",
      markUnread: "Đánh dấu chưa đọc",
      archive: "Lưu trữ",
      unarchive: "Chuyển về hộp thư",
      snooze: "Tạm ẩn",
      snoozeIn1h: "Sau 1 giờ",
      snoozeTomorrow: "Ngày mai, 08:00",
      snoozeNextWeek: "Tuần sau (thứ Hai, 08:00)",
      snoozed: "Đã tạm ẩn",
      answered: function (action, who) { return "Đã trả lời: " + action + " (bởi " + who + ")"; },
      closed: "Câu hỏi này đã đóng.",
      preferences: "Tùy chọn thông báo",
      unread: function (n) { return n + " chưa đọc"; },
      offline: "Đang kết nối lại…",
      stopped: "Đã dừng cập nhật trực tiếp: tải lại trang để tiếp tục.",
      more: "Xem thêm",
    },
  };
  var TABS = ["unread", "all", "archived"];

  var STYLE =
    ".ti-root{font:14px/1.4 system-ui,sans-serif;position:relative;display:inline-block;color:#1f2328}" +
    ".ti-bell{position:relative;border:0;background:none;color:#3c4043;cursor:pointer;padding:4px}" +
    ".ti-badge{position:absolute;top:-4px;right:-6px;min-width:18px;padding:0 5px;" +
    "border-radius:9px;background:#c5221f;color:#fff;font-size:11px;line-height:18px;" +
    "text-align:center}" +
    ".ti-badge[hidden],.ti-panel[hidden],.ti-menu[hidden],.ti-status[hidden]{display:none}" +
    ".ti-panel{width:360px;max-width:calc(100vw - 16px);max-height:480px;overflow:auto;" +
    "border:1px solid #d0d4d9;border-radius:8px;background:#fff;box-shadow:0 4px 16px rgba(0,0,0,.12)}" +
    ".ti-head{display:flex;gap:8px;justify-content:space-between;align-items:center;" +
    "padding:8px 12px;border-bottom:1px solid #eceff1}" +
    ".ti-head h2{font-size:15px;margin:0}" +
    ".ti-head button,.ti-head a{border:0;background:none;color:#0b57d0;cursor:pointer;font-size:12px;" +
    "text-decoration:none;padding:4px}" +
    ".ti-tabs{display:flex;border-bottom:1px solid #eceff1}" +
    ".ti-tab{flex:1;border:0;background:none;padding:8px 4px;cursor:pointer;color:#3c4043;" +
    "border-bottom:2px solid transparent;font:inherit}" +
    ".ti-tab[aria-selected=true]{color:#0b57d0;border-bottom-color:#0b57d0;font-weight:600}" +
    ".ti-list{list-style:none;margin:0;padding:0}" +
    ".ti-item{padding:10px 12px;border-bottom:1px solid #f1f3f4}" +
    ".ti-item.ti-unread{background:#eef4ff}" +
    ".ti-open{display:block;width:100%;text-align:left;border:0;background:none;padding:0;" +
    "font:inherit;color:inherit;cursor:pointer}" +
    ".ti-item.ti-unread .ti-title:before{content:'\\25CF  ';color:#0b57d0}" +
    ".ti-title,.ti-body,.ti-time{display:block}.ti-title{font-weight:600}.ti-body{color:#3c4043}" +
    ".ti-time{color:#5f6368;font-size:12px}" +
    ".ti-actions{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px;position:relative}" +
    ".ti-actions button{border:1px solid #c4c7c5;background:#fff;color:#1f2328;border-radius:6px;" +
    "padding:2px 8px;font-size:12px;cursor:pointer}" +
    ".ti-menu{position:absolute;top:100%;left:0;z-index:2;display:flex;flex-direction:column;" +
    "background:#fff;border:1px solid #c4c7c5;border-radius:6px;box-shadow:0 2px 8px rgba(0,0,0,.15)}" +
    ".ti-menu button{border:0;border-radius:0;text-align:left;padding:6px 10px}" +
    ".ti-question{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px;align-items:center}" +
    ".ti-question button{border:1px solid #0b57d0;background:#0b57d0;color:#fff;border-radius:6px;" +
    "padding:4px 12px;font-size:13px;cursor:pointer}" +
    ".ti-answered{color:#1a5e34;font-size:13px}" +
    ".ti-root :focus-visible{outline:2px solid #0b57d0;outline-offset:1px}" +
    ".ti-empty,.ti-status{padding:12px;color:#5f6368}" +
    ".ti-more{display:block;width:100%;border:0;background:none;color:#0b57d0;padding:8px;cursor:pointer}";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function icon(d) {
    // drawn, not an emoji: every system has the shape, not every one has the font
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", d);
    svg.appendChild(path);
    return svg;
  }
  var BELL =
    "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5" +
    "a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z";
  var GEAR =
    "M19.4 13a7.8 7.8 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.6 7.6 0 0 0-1.7-1L15 3.3h-4l-.4 2.6" +
    "a7.6 7.6 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.8 7.8 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1" +
    "a7.6 7.6 0 0 0 1.7 1l.4 2.6h4l.4-2.6a7.6 7.6 0 0 0 1.7-1l2.5 1 2-3.5zM12 15.5" +
    "a3.5 3.5 0 1 1 0-7 3.5 3.5 0 0 1 0 7z";

  function pickLocale(wanted) {
    var lang = (wanted || document.documentElement.lang || navigator.language || "en")
      .slice(0, 2)
      .toLowerCase();
    return STRINGS[lang] ? lang : "en";
  }

  // -- snooze times in the recipient's timezone ----------------------------------------
  function zoneParts(ms, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric", weekday: "short",
    }).formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }

  function offsetAt(ms, zone) {
    var p = zoneParts(ms, zone);
    var wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    return wall - Math.floor(ms / 1000) * 1000;
  }

  // The instant when the wall clock of `zone` shows 08:00, `days` after today there.
  function at8(zone, days, now) {
    var p = zoneParts(now, zone);
    var guess = Date.UTC(+p.year, +p.month - 1, +p.day + days, 8, 0, 0);
    var ms = guess - offsetAt(guess, zone);
    return ms - (offsetAt(ms, zone) - offsetAt(guess, zone));
  }

  function snoozeChoices(zone, t) {
    var now = Date.now();
    var weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(zoneParts(now, zone).weekday);
    return [
      { label: t.snoozeIn1h, until: now + 3600 * 1000 },
      { label: t.snoozeTomorrow, until: at8(zone, 1, now) },
      { label: t.snoozeNextWeek, until: at8(zone, 7 - weekday, now) },
    ];
  }

  var uid = 0;

  function Inbox(root, options) {
    this.root = root;
    this.base = (options.baseUrl || "").replace(/\/$/, "");
    this.token = options.token;
    this.getToken = options.getToken || null;
    this.locale = pickLocale(options.locale);
    this.t = STRINGS[this.locale];
    this.tab = TABS.indexOf(options.tab) >= 0 ? options.tab : "unread";
    this.items = [];
    this.next = null;
    this.counts = { unread: 0, unseen: 0, archived: 0 };
    this.timezone = "UTC";
    this.lastSeq = null;
    this.streamId = null;
    this.source = null;
    this.closed = false;
    this.id = "ti" + ++uid;
    this.onChange = options.onChange || function () {};
    this.build(options.open !== false);
    var self = this;
    this.api("GET", "/api/v1/me/preferences").then(function (me) {
      self.timezone = me.timezone || "UTC";
    }, function () {});
    this.start();
  }

  // The first page, then the stream. A refused first page (an expired token) stops the
  // widget, saying so, unless getToken can give a new one: then it tries again, backing
  // off like a refused stream.
  Inbox.prototype.start = function () {
    var self = this;
    return this.load().then(this.connect.bind(this), function () {
      if (self.closed) return;
      if (!self.getToken) return self.stop();
      self.failures = (self.failures || 0) + 1;
      if (self.failures > MAX_RECONNECTS) return self.stop();
      var delay = Math.min(1000 * Math.pow(2, self.failures - 1), 60000);
      Promise.resolve(self.getToken()).then(function (token) {
        self.setToken(token);
        setTimeout(self.start.bind(self), delay);
      }, function () { setTimeout(self.start.bind(self), delay); });
    });
  };

  Inbox.prototype.api = function (method, path, body) {
    var init = { method: method, headers: { Authorization: "Bearer " + this.token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(this.base + path, init).then(function (r) {
      if (!r.ok) throw new Error("tidings inbox: " + method + " " + path + " " + r.status);
      return r.json();
    });
  };

  Inbox.prototype.build = function (open) {
    if (!document.getElementById("tidings-inbox-css")) {
      var style = el("style");
      style.id = "tidings-inbox-css";
      style.textContent = STYLE;
      document.head.appendChild(style);
    }
    var self = this, t = this.t, id = this.id;
    this.root.classList.add("ti-root");
    this.root.lang = this.locale;
    this.bell = el("button", "ti-bell");
    this.bell.type = "button";
    this.bell.appendChild(icon(BELL));
    this.bell.setAttribute("aria-controls", id + "-panel");
    this.badge = el("span", "ti-badge");
    this.badge.setAttribute("aria-hidden", "true");
    this.badge.hidden = true;
    this.bell.appendChild(this.badge);

    this.panel = el("section", "ti-panel");
    this.panel.id = id + "-panel";
    this.panel.setAttribute("aria-labelledby", id + "-title");
    var head = el("div", "ti-head");
    this.heading = el("h2", null, t.title);
    this.heading.id = id + "-title";
    var tools = el("div");
    this.markAllButton = el("button", "ti-mark-all", t.markAll);
    this.markAllButton.type = "button";
    this.markAllButton.addEventListener("click", function () { self.markAllRead(); });
    this.gear = el("a", "ti-gear");
    this.gear.target = "_blank";
    this.gear.rel = "noopener";
    this.gear.setAttribute("aria-label", t.preferences);
    this.gear.title = t.preferences;
    this.gear.appendChild(icon(GEAR));
    this.setGear();
    tools.appendChild(this.markAllButton);
    tools.appendChild(this.gear);
    head.appendChild(this.heading);
    head.appendChild(tools);

    this.tabList = el("div", "ti-tabs");
    this.tabList.setAttribute("role", "tablist");
    this.tabList.setAttribute("aria-label", t.title);
    this.tabButtons = {};
    TABS.forEach(function (name) {
      var b = el("button", "ti-tab", t.tabs[name]);
      b.type = "button";
      b.id = id + "-tab-" + name;
      b.dataset.tab = name;
      b.setAttribute("role", "tab");
      b.setAttribute("aria-controls", id + "-list");
      b.addEventListener("click", function () { self.select(name); });
      b.addEventListener("keydown", function (e) { self.tabKey(e, name); });
      self.tabButtons[name] = b;
      self.tabList.appendChild(b);
    });

    this.status = el("div", "ti-status", t.offline);
    this.status.setAttribute("role", "status");
    this.status.hidden = true;
    this.list = el("ul", "ti-list");
    this.list.id = id + "-list";
    this.list.setAttribute("role", "tabpanel");
    this.list.tabIndex = -1;
    this.moreButton = el("button", "ti-more", t.more);
    this.moreButton.type = "button";
    this.moreButton.hidden = true;
    this.moreButton.addEventListener("click", function () { self.load(true); });
    this.live = el("div");
    this.live.setAttribute("aria-live", "polite");
    this.live.style.cssText = "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)";

    this.panel.appendChild(head);
    this.panel.appendChild(this.tabList);
    this.panel.appendChild(this.status);
    this.panel.appendChild(this.list);
    this.panel.appendChild(this.moreButton);
    this.bell.addEventListener("click", function () { self.setOpen(self.panel.hidden); });
    this.panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !e.defaultPrevented) { self.setOpen(false); self.bell.focus(); }
    });
    this.root.appendChild(this.bell);
    this.root.appendChild(this.panel);
    this.root.appendChild(this.live);
    this.panel.hidden = !open;
    this.bell.setAttribute("aria-expanded", String(open));
    this.markTabs();
  };

  Inbox.prototype.setGear = function () {
    this.gear.href = this.base + "/preferences?token=" + encodeURIComponent(this.token);
  };

  Inbox.prototype.setOpen = function (open) {
    this.panel.hidden = !open;
    this.bell.setAttribute("aria-expanded", String(open));
    if (open) this.markSeen();
  };

  Inbox.prototype.markTabs = function () {
    var self = this;
    TABS.forEach(function (name) {
      var b = self.tabButtons[name], on = name === self.tab;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    });
    this.list.setAttribute("aria-labelledby", this.id + "-tab-" + this.tab);
  };

  Inbox.prototype.tabKey = function (e, name) {
    var i = TABS.indexOf(name), next = null;
    if (e.key === "ArrowRight") next = TABS[(i + 1) % TABS.length];
    if (e.key === "ArrowLeft") next = TABS[(i + TABS.length - 1) % TABS.length];
    if (e.key === "Home") next = TABS[0];
    if (e.key === "End") next = TABS[TABS.length - 1];
    if (next === null) return;
    e.preventDefault();
    this.select(next);
    this.tabButtons[next].focus();
  };

  Inbox.prototype.select = function (tab) {
    if (tab === this.tab) return Promise.resolve();
    this.tab = tab;
    this.markTabs();
    return this.load();
  };

  Inbox.prototype.load = function (more) {
    var self = this, tab = this.tab;
    var path = "/api/v1/inbox?limit=50&status=" + tab;
    if (more && this.next) path += "&cursor=" + encodeURIComponent(this.next);
    return this.api("GET", path).then(function (page) {
      if (tab !== self.tab) return;  // another tab was chosen meanwhile
      self.items = more ? self.items.concat(page.data) : page.data;
      self.next = page.next_cursor;
      self.setCounts(page.counts);
      self.render();
      if (!self.panel.hidden) self.markSeen();
    });
  };

  Inbox.prototype.setCounts = function (counts) {
    if (!counts) return;
    this.counts = counts;
    this.unread = counts.unread;
    var n = counts.unseen;
    this.badge.hidden = n === 0;
    this.badge.textContent = n > 99 ? "99+" : String(n);
    this.bell.setAttribute("aria-label", this.t.bell(n));
    this.tabButtons.unread.textContent =
      this.t.tabs.unread + (counts.unread ? " (" + counts.unread + ")" : "");
    this.onChange({ unread: counts.unread, unseen: n, counts: counts, items: this.items });
  };

  // Everything the open panel shows is seen: the badge counts what is not.
  Inbox.prototype.markSeen = function () {
    var self = this;
    var ids = this.items.filter(function (i) { return !i.seen_at; }).map(function (i) { return i.id; });
    if (!ids.length) return Promise.resolve();
    var now = new Date().toISOString();
    this.items.forEach(function (i) { if (ids.indexOf(i.id) >= 0) i.seen_at = i.seen_at || now; });
    return this.api("POST", "/api/v1/inbox/seen", { ids: ids }).then(function (r) {
      self.setCounts(r.counts);
    });
  };

  Inbox.prototype.belongs = function (item) {
    if (this.tab === "archived") return !!item.archived_at;
    if (item.archived_at) return false;
    if (item.snoozed_until && new Date(item.snoozed_until) > new Date()) return false;
    return this.tab === "all" || !item.read_at;
  };

  Inbox.prototype.put = function (item) {
    if (!item || !this.belongs(item)) return;
    var old = this.find(item.id);
    if (old) this.items.splice(this.items.indexOf(old), 1);
    var i = 0;
    while (i < this.items.length && (this.items[i].created_at > item.created_at ||
      (this.items[i].created_at === item.created_at && this.items[i].id > item.id))) i++;
    this.items.splice(i, 0, item);
  };

  Inbox.prototype.drop = function (id) {
    var item = this.find(id);
    if (item) this.items.splice(this.items.indexOf(item), 1);
  };

  Inbox.prototype.render = function () {
    var self = this, t = this.t;
    var focused = document.activeElement && this.list.contains(document.activeElement)
      ? document.activeElement.dataset.focusKey : null;
    this.list.textContent = "";
    this.moreButton.hidden = !this.next;
    if (!this.items.length) {
      this.list.appendChild(el("li", "ti-empty", t.empty[this.tab]));
      return;
    }
    var format = new Intl.DateTimeFormat(this.locale, { dateStyle: "short", timeStyle: "short" });
    this.items.forEach(function (item) {
      var row = el("li", "ti-item" + (item.read_at ? "" : " ti-unread"));
      row.dataset.id = item.id;
      var open = el("button", "ti-open");
      open.type = "button";
      open.dataset.focusKey = item.id + ":open";
      if (item.title) open.appendChild(el("span", "ti-title", item.title));
      if (item.body) open.appendChild(el("span", "ti-body", item.body));
      var when = el("time", "ti-time", format.format(new Date(item.created_at)));
      when.dateTime = item.created_at;
      open.appendChild(when);
      open.addEventListener("click", function () { self.markRead(item.id); });
      row.appendChild(open);
      var asked = self.question(item);
      if (asked) row.appendChild(asked);

      var actions = el("div", "ti-actions");
      var label = item.title || item.body || "";
      function action(cls, text, run) {
        var b = el("button", cls, text);
        b.type = "button";
        b.dataset.focusKey = item.id + ":" + cls;
        b.setAttribute("aria-label", text + ": " + label);
        b.addEventListener("click", run);
        actions.appendChild(b);
        return b;
      }
      if (item.read_at) action("ti-unread-btn", t.markUnread, function () { self.bulk("unread", [item.id]); });
      else action("ti-read-btn", t.markRead, function () { self.markRead(item.id); });
      if (item.archived_at) {
        action("ti-unarchive", t.unarchive, function () { self.bulk("unarchive", [item.id]); });
      } else {
        action("ti-archive", t.archive, function () { self.bulk("archive", [item.id]); });
        var snooze = action("ti-snooze", t.snooze, function () { self.toggleMenu(snooze, menu); });
        snooze.setAttribute("aria-haspopup", "menu");
        snooze.setAttribute("aria-expanded", "false");
        var menu = el("div", "ti-menu");
        menu.setAttribute("role", "menu");
        menu.hidden = true;
        snoozeChoices(self.timezone, t).forEach(function (c) {
          var b = el("button", "ti-snooze-choice", c.label);
          b.type = "button";
          b.setAttribute("role", "menuitem");
          b.addEventListener("click", function () {
            self.snooze(item.id, new Date(c.until).toISOString());
          });
          menu.appendChild(b);
        });
        menu.addEventListener("keydown", function (e) { self.menuKey(e, snooze, menu); });
        actions.appendChild(menu);
      }
      row.appendChild(actions);
      self.list.appendChild(row);
    });
    if (focused) {
      var again = this.list.querySelector('[data-focus-key="' + CSS.escape(focused) + '"]');
      (again || this.list).focus();
    }
  };

  // A question (ctx.ask): one button per action until someone answers, then who answered
  // what. The first answer on any channel wins; the server says which.
  Inbox.prototype.question = function (item) {
    var self = this, t = this.t;
    var asked = item.question || (item.data && item.data.question);
    if (!asked || !asked.actions) return null;
    var box = el("div", "ti-question");
    var labels = asked.labels || {};
    if (asked.answer) {
      var action = labels[asked.answer.action] || asked.answer.action;
      box.appendChild(el("span", "ti-answered", t.answered(action, asked.answer.answered_by)));
      return box;
    }
    if (asked.expires_at && new Date(asked.expires_at) <= new Date()) {
      box.appendChild(el("span", "ti-answered", t.closed));
      return box;
    }
    asked.actions.forEach(function (name) {
      var b = el("button", "ti-answer", labels[name] || name);
      b.type = "button";
      b.dataset.action = name;
      b.dataset.focusKey = item.id + ":answer:" + name;
      b.addEventListener("click", function () { self.answer(item, name); });
      box.appendChild(b);
    });
    return box;
  };

  Inbox.prototype.answer = function (item, action) {
    var self = this;
    var path = "/api/v1/inbox/" + encodeURIComponent(item.id) + "/actions/" +
      encodeURIComponent(action);
    return this.api("POST", path).then(function (r) {
      item.question = r.question;
      self.announce(r.message);
      self.render();
    });
  };

  Inbox.prototype.toggleMenu = function (button, menu) {
    var open = menu.hidden;
    menu.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("button").focus();
  };

  Inbox.prototype.menuKey = function (e, button, menu) {
    var items = Array.prototype.slice.call(menu.querySelectorAll("button"));
    var i = items.indexOf(document.activeElement);
    if (e.key === "Escape") {
      e.preventDefault();
      menu.hidden = true;
      button.setAttribute("aria-expanded", "false");
      button.focus();
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      items[(i + 1) % items.length].focus();
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      items[(i + items.length - 1) % items.length].focus();
    }
  };

  Inbox.prototype.announce = function (text) {
    this.live.textContent = "";
    this.live.textContent = text;
  };

  Inbox.prototype.bulk = function (action, ids, extra) {
    var self = this;
    var body = { ids: ids };
    if (extra) for (var k in extra) body[k] = extra[k];
    return this.api("POST", "/api/v1/inbox/" + action, body).then(function (r) {
      var now = new Date().toISOString();
      ids.forEach(function (id) {
        var item = self.find(id);
        if (!item) return;
        if (action === "read") item.read_at = item.read_at || now;
        if (action === "unread") item.read_at = null;
        if (action === "archive") item.archived_at = now;
        if (action === "unarchive") item.archived_at = null;
        if (action === "snooze") item.snoozed_until = body.until;
        if (!self.belongs(item)) self.drop(id);
      });
      self.setCounts(r.counts);
      self.render();
      return r;
    });
  };

  Inbox.prototype.snooze = function (id, until) {
    var self = this;
    return this.bulk("snooze", [id], { until: until }).then(function () {
      self.announce(self.t.snoozed);
    });
  };

  Inbox.prototype.markRead = function (id) {
    var item = this.find(id);
    if (!item || item.read_at) return Promise.resolve();
    return this.bulk("read", [id]);
  };

  Inbox.prototype.markAllRead = function () {
    var self = this;
    return this.api("POST", "/api/v1/inbox/read-all").then(function (r) {
      var now = new Date().toISOString();
      self.items.forEach(function (i) { if (!i.archived_at) i.read_at = i.read_at || now; });
      self.items = self.items.filter(self.belongs.bind(self));
      self.setCounts(r.counts);
      self.render();
    });
  };

  Inbox.prototype.find = function (id) {
    for (var i = 0; i < this.items.length; i++) if (this.items[i].id === id) return this.items[i];
    return null;
  };

  // One change of the feed, made here or in another tab or device.
  Inbox.prototype.apply = function (kind, data) {
    var item = this.find(data.item_id);
    if (kind === "created" || kind === "unsnoozed" || kind === "unarchived" || kind === "unread") {
      if (data.item) this.put(data.item);
      else if (item && kind === "unread") item.read_at = null;
    } else if (item) {
      if (kind === "seen") item.seen_at = item.seen_at || data.at;
      if (kind === "read") item.read_at = item.read_at || data.at;
      if (kind === "archived") item.archived_at = item.archived_at || data.at;
      if (kind === "snoozed") item.snoozed_until = "9999-12-31T00:00:00Z";
      if (!this.belongs(item)) this.drop(item.id);
    } else if (kind === "archived" && this.tab === "archived") {
      return this.load();  // an item this view has not loaded joined it
    }
    this.setCounts(data.counts);
    this.render();
    if (!this.panel.hidden && (kind === "created" || kind === "unsnoozed")) this.markSeen();
  };

  Inbox.prototype.connect = function () {
    if (this.closed) return;
    var self = this;
    var url = this.base + "/api/v1/inbox/stream?token=" + encodeURIComponent(this.token);
    // A new EventSource cannot send Last-Event-ID itself; the query carries it instead.
    if (this.lastSeq !== null) url += "&last_event_id=" + this.lastSeq;
    var source = new EventSource(url);
    this.source = source;
    source.addEventListener("ready", function (e) {
      var data = JSON.parse(e.data);
      self.streamId = data.stream;
      if (self.lastSeq === null) self.lastSeq = data.seq;
      self.setCounts(data.counts);
      self.failures = 0;
      self.status.hidden = true;
    });
    ["created", "seen", "read", "unread", "archived", "unarchived", "snoozed", "unsnoozed"]
      .forEach(function (kind) {
        source.addEventListener(kind, function (e) {
          var data = JSON.parse(e.data);
          self.lastSeq = data.seq;
          self.apply(kind, data);
        });
      });
    source.addEventListener("token-expiring", function () { self.refresh(); });
    source.addEventListener("token-expired", function () {
      // Without getToken the same expired token would be refused forever: stop now.
      if (self.getToken) self.reconnectWithNewToken(); else self.stop();
    });
    source.onerror = function () {
      self.status.hidden = false;
      // EventSource retries by itself unless the server refused it (e.g. an expired token).
      if (source.readyState === EventSource.CLOSED) self.reconnectWithNewToken();
    };
  };

  Inbox.prototype.setToken = function (token) {
    this.token = token;
    this.setGear();
  };

  Inbox.prototype.refresh = function () {
    var self = this;
    if (!this.getToken || !this.streamId) return Promise.resolve();
    return Promise.resolve(this.getToken()).then(function (token) {
      self.setToken(token);
      return self.api("POST", "/api/v1/inbox/stream/" + encodeURIComponent(self.streamId) + "/token");
    });
  };

  // Reconnecting after the server refused the stream backs off (1 s, 2 s, 4 s ... at
  // most a minute, with jitter) and gives up after MAX_RECONNECTS refusals in a row,
  // saying so; a stream that opens again resets the count.
  var MAX_RECONNECTS = 8;

  Inbox.prototype.reconnectWithNewToken = function () {
    var self = this;
    if (this.source) this.source.close();
    if (this.closed) return;
    this.failures = (this.failures || 0) + 1;
    if (this.failures > MAX_RECONNECTS) return this.stop();
    var delay = Math.min(1000 * Math.pow(2, this.failures - 1), 60000);
    delay = delay / 2 + Math.random() * delay / 2;
    var next = this.getToken ? Promise.resolve(this.getToken()) : Promise.resolve(this.token);
    next.then(function (token) {
      self.setToken(token);
      setTimeout(self.connect.bind(self), delay);
    }, function () { setTimeout(self.reconnectWithNewToken.bind(self), delay); });
  };

  Inbox.prototype.stop = function () {
    this.close();
    this.status.textContent = this.t.stopped;
    this.status.hidden = false;
  };

  Inbox.prototype.close = function () {
    this.closed = true;
    if (this.source) this.source.close();
  };

  // -- <tidings-inbox base-url token locale [open] [tab]> ------------------------------
  if (global.customElements && !global.customElements.get("tidings-inbox")) {
    var Element = function () {
      return Reflect.construct(HTMLElement, [], Element);
    };
    Element.prototype = Object.create(HTMLElement.prototype);
    Element.prototype.constructor = Element;
    Object.setPrototypeOf(Element, HTMLElement);
    Element.observedAttributes = ["token"];
    Element.prototype.connectedCallback = function () {
      if (this.inbox) return;
      var host = this;
      this.inbox = new Inbox(this, {
        baseUrl: this.getAttribute("base-url") || "",
        token: this.getAttribute("token") || "",
        locale: this.getAttribute("locale") || undefined,
        open: this.hasAttribute("open"),
        tab: this.getAttribute("tab") || undefined,
        getToken: this.getToken ? function () { return host.getToken(); } : null,
        onChange: function (state) {
          host.dispatchEvent(new CustomEvent("tidings-change", { detail: state }));
        },
      });
    };
    Element.prototype.disconnectedCallback = function () {
      if (this.inbox) this.inbox.close();
      this.inbox = null;
      this.textContent = "";
    };
    Element.prototype.attributeChangedCallback = function (name, old, value) {
      if (name === "token" && this.inbox && value && value !== old) this.inbox.setToken(value);
    };
    global.customElements.define("tidings-inbox", Element);
  }

  global.TidingsInbox = {
    mount: function (root, options) { return new Inbox(root, options || {}); },
    strings: STRINGS,
  };
})(window);
