/*
 * tidings embeddable inbox: a bell with an unread badge and a live list of in-app
 * notifications. Plain JavaScript, no build step, no dependencies.
 *
 *   <div id="inbox"></div>
 *   <script src="https://api.example.com/inbox.js"></script>
 *   <script>
 *     TidingsInbox.mount(document.getElementById("inbox"), {
 *       baseUrl: "https://api.example.com",   // where the tidings API is served
 *       token: "<inbox token from your backend: app.inbox_token(user_id)>",
 *       getToken: () => fetch("/me/inbox-token").then((r) => r.text()),  // refresh
 *       locale: "vi",                          // "vi" or "en" (default: the page's)
 *     });
 *   </script>
 *
 * Live updates come from GET /api/v1/inbox/stream (Server-Sent Events). The stream
 * resumes after a dropped connection from the last event it delivered, and when the
 * token nears expiry the widget asks getToken() for a new one and hands it to the open
 * stream, which stays open. Text is always set with textContent (never parsed as HTML).
 */
(function (global) {
  "use strict";

  var STRINGS = {
    en: {
      title: "Notifications",
      empty: "No notifications yet.",
      markAll: "Mark all as read",
      unread: function (n) { return n === 1 ? "1 unread" : n + " unread"; },
      offline: "Reconnecting…",
      stopped: "Live updates stopped: reload the page to resume.",
      more: "Load more",
    },
    vi: {
      title: "Thông báo",
      empty: "Chưa có thông báo nào.",
      markAll: "Đánh dấu tất cả là đã đọc",
      unread: function (n) { return n + " chưa đọc"; },
      offline: "Đang kết nối lại…",
      stopped: "Đã dừng cập nhật trực tiếp: tải lại trang để tiếp tục.",
      more: "Xem thêm",
    },
  };

  var CSS =
    ".ti-root{font:14px/1.4 system-ui,sans-serif;position:relative;display:inline-block}" +
    ".ti-bell{position:relative;border:0;background:none;color:#444;cursor:pointer;padding:4px}" +
    ".ti-badge{position:absolute;top:-4px;right:-6px;min-width:18px;padding:0 5px;" +
    "border-radius:9px;background:#d93025;color:#fff;font-size:11px;line-height:18px;" +
    "text-align:center}" +
    ".ti-badge[hidden]{display:none}" +
    ".ti-panel{width:340px;max-height:420px;overflow:auto;border:1px solid #ddd;" +
    "border-radius:8px;background:#fff;box-shadow:0 4px 16px rgba(0,0,0,.12)}" +
    ".ti-head{display:flex;justify-content:space-between;align-items:center;" +
    "padding:8px 12px;border-bottom:1px solid #eee;font-weight:600}" +
    ".ti-head button{border:0;background:none;color:#1a73e8;cursor:pointer;font-size:12px}" +
    ".ti-item{padding:10px 12px;border-bottom:1px solid #f2f2f2;cursor:pointer}" +
    ".ti-item.ti-unread{background:#eef4ff}" +
    ".ti-item.ti-unread .ti-title:before{content:'\\25CF  ';color:#1a73e8}" +
    ".ti-title{font-weight:600}.ti-body{color:#444}.ti-time{color:#888;font-size:11px}" +
    ".ti-empty,.ti-status{padding:12px;color:#777}.ti-status[hidden]{display:none}";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function bellIcon() {
    // drawn, not an emoji: every system has the shape, not every one has the font
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "24");
    svg.setAttribute("height", "24");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute(
      "d",
      "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5" +
        "a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z"
    );
    svg.appendChild(path);
    return svg;
  }

  function pickLocale(wanted) {
    var lang = (wanted || document.documentElement.lang || navigator.language || "en")
      .slice(0, 2)
      .toLowerCase();
    return STRINGS[lang] ? lang : "en";
  }

  function Inbox(root, options) {
    this.root = root;
    this.base = (options.baseUrl || "").replace(/\/$/, "");
    this.token = options.token;
    this.getToken = options.getToken || null;
    this.locale = pickLocale(options.locale);
    this.t = STRINGS[this.locale];
    this.items = [];
    this.unread = 0;
    this.lastSeq = null;
    this.streamId = null;
    this.source = null;
    this.closed = false;
    this.onChange = options.onChange || function () {};
    this.build(options.open !== false);
    this.load().then(this.connect.bind(this));
  }

  Inbox.prototype.api = function (method, path) {
    return fetch(this.base + path, {
      method: method,
      headers: { Authorization: "Bearer " + this.token },
    }).then(function (r) {
      if (!r.ok) throw new Error("tidings inbox: " + method + " " + path + " " + r.status);
      return r.json();
    });
  };

  Inbox.prototype.build = function (open) {
    if (!document.getElementById("tidings-inbox-css")) {
      var style = el("style");
      style.id = "tidings-inbox-css";
      style.textContent = CSS;
      document.head.appendChild(style);
    }
    var self = this;
    this.root.classList.add("ti-root");
    this.bell = el("button", "ti-bell");
    this.bell.appendChild(bellIcon());
    this.bell.setAttribute("aria-label", this.t.title);
    this.badge = el("span", "ti-badge");
    this.badge.hidden = true;
    this.bell.appendChild(this.badge);
    this.panel = el("div", "ti-panel");
    this.panel.hidden = !open;
    var head = el("div", "ti-head");
    this.heading = el("span", null, this.t.title);
    this.markAllButton = el("button", "ti-mark-all", this.t.markAll);
    this.markAllButton.addEventListener("click", function () { self.markAllRead(); });
    head.appendChild(this.heading);
    head.appendChild(this.markAllButton);
    this.status = el("div", "ti-status", this.t.offline);
    this.status.hidden = true;
    this.list = el("div", "ti-list");
    this.panel.appendChild(head);
    this.panel.appendChild(this.status);
    this.panel.appendChild(this.list);
    this.bell.addEventListener("click", function () { self.panel.hidden = !self.panel.hidden; });
    this.root.appendChild(this.bell);
    this.root.appendChild(this.panel);
  };

  Inbox.prototype.load = function () {
    var self = this;
    return this.api("GET", "/api/v1/inbox?limit=50").then(function (page) {
      self.items = page.data;
      self.setUnread(page.unread_count);
      self.render();
    });
  };

  Inbox.prototype.setUnread = function (n) {
    this.unread = n;
    this.badge.hidden = n === 0;
    this.badge.textContent = n > 99 ? "99+" : String(n);
    this.badge.title = this.t.unread(n);
    this.onChange({ unread: n, items: this.items });
  };

  Inbox.prototype.render = function () {
    var self = this;
    this.list.textContent = "";
    if (!this.items.length) {
      this.list.appendChild(el("div", "ti-empty", this.t.empty));
      return;
    }
    var format = new Intl.DateTimeFormat(this.locale, { dateStyle: "short", timeStyle: "short" });
    this.items.forEach(function (item) {
      var row = el("div", "ti-item" + (item.read_at ? "" : " ti-unread"));
      row.dataset.id = item.id;
      if (item.title) row.appendChild(el("div", "ti-title", item.title));
      if (item.body) row.appendChild(el("div", "ti-body", item.body));
      row.appendChild(el("div", "ti-time", format.format(new Date(item.created_at))));
      row.addEventListener("click", function () { self.markRead(item.id); });
      self.list.appendChild(row);
    });
  };

  Inbox.prototype.markRead = function (id) {
    var self = this;
    var item = this.find(id);
    if (!item || item.read_at) return Promise.resolve();
    return this.api("POST", "/api/v1/inbox/" + encodeURIComponent(id) + "/read").then(
      function (r) {
        item.read_at = item.read_at || new Date().toISOString();
        self.setUnread(r.unread_count);
        self.render();
      }
    );
  };

  Inbox.prototype.markAllRead = function () {
    var self = this;
    return this.api("POST", "/api/v1/inbox/read-all").then(function (r) {
      var now = new Date().toISOString();
      self.items.forEach(function (i) { i.read_at = i.read_at || now; });
      self.setUnread(r.unread_count);
      self.render();
    });
  };

  Inbox.prototype.find = function (id) {
    for (var i = 0; i < this.items.length; i++) if (this.items[i].id === id) return this.items[i];
    return null;
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
      self.setUnread(data.unread_count);
      self.failures = 0;
      self.status.hidden = true;
    });
    source.addEventListener("created", function (e) {
      var data = JSON.parse(e.data);
      self.lastSeq = data.seq;
      if (data.item && !self.find(data.item.id)) self.items.unshift(data.item);
      self.setUnread(data.unread_count);
      self.render();
    });
    ["read", "archived"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var data = JSON.parse(e.data);
        self.lastSeq = data.seq;
        var item = self.find(data.item_id);
        if (item && kind === "read") item.read_at = item.read_at || data.at;
        if (item && kind === "archived") self.items.splice(self.items.indexOf(item), 1);
        self.setUnread(data.unread_count);
        self.render();
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

  Inbox.prototype.refresh = function () {
    var self = this;
    if (!this.getToken || !this.streamId) return Promise.resolve();
    return Promise.resolve(this.getToken()).then(function (token) {
      self.token = token;
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
      self.token = token;
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

  global.TidingsInbox = {
    mount: function (root, options) { return new Inbox(root, options || {}); },
    strings: STRINGS,
  };
})(window);
