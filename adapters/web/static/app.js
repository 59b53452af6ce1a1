// Stickerbot chat room client. Plain DOM, no dependencies, no build step.
// Every piece of user text is rendered with textContent, never parsed as HTML; the server's
// Content-Security-Policy forbids inline script as a second line of defence.
"use strict";

(() => {
  const PROTOCOL = 1;
  const FATAL_CLOSE = new Set([4400, 4401, 4422]); // protocol error, bad token, bad name/room
  const $ = (id) => document.getElementById(id);

  const state = {
    ws: null,
    me: null,
    room: null,
    roomFromUrl: roomFromPath(),
    lastId: null,
    messages: new Map(), // id -> element (negative ids: shown but not kept by the server)
    members: new Map(), // user id -> name
    memberCount: 0,
    pending: new Map(), // id -> element
    recent: [],
    styles: [],
    emoji: [],
    retry: 0,
    retryTimer: null,
    joined: false,
    menuFor: null,
    lastError: "",
  };

  // ------------------------------------------------------------------ small helpers
  function roomFromPath() {
    const m = location.pathname.match(/^\/r\/([a-z0-9][a-z0-9_-]{0,31})\/?$/);
    return m ? m[1] : "";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function store(key, value) {
    try {
      if (value === null || value === undefined || value === "") localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (_) { /* private mode: remember nothing */ }
  }

  function load(key) {
    try { return localStorage.getItem(key) || ""; } catch (_) { return ""; }
  }

  function send(type, fields) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      notice("Not connected — trying to reconnect…", "error");
      return false;
    }
    state.ws.send(JSON.stringify(Object.assign({ v: PROTOCOL, type }, fields || {})));
    return true;
  }

  function timeText(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function nearBottom() {
    const box = $("messages");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  function scrollToBottom(force) {
    const box = $("messages");
    if (force || nearBottom()) box.scrollTop = box.scrollHeight;
  }

  // ------------------------------------------------------------------ connection
  function connect() {
    clearTimeout(state.retryTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    state.ws = ws;
    ws.addEventListener("open", () => {
      const hello = { name: load("stickerbot.name"), room: state.roomFromUrl };
      const session = load("stickerbot.session");
      const token = load("stickerbot.token");
      if (session) hello.session = session;
      if (token) hello.token = token;
      if (state.lastId !== null) hello.last_id = state.lastId;
      send("hello", hello);
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      if (!frame || frame.v !== PROTOCOL) return;
      const handler = handlers[frame.type];
      if (handler) handler(frame);
    });
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (FATAL_CLOSE.has(event.code)) {
        state.joined = false;
        showJoin(state.lastError || "The chat room refused to connect.");
        return;
      }
      if (!state.joined) {
        showJoin("Could not reach the chat room. Is the bot running?");
        return;
      }
      const delay = Math.min(10000, 500 * 2 ** state.retry);
      state.retry += 1;
      setStatus(`Connection lost — reconnecting in ${Math.round(delay / 1000)} s…`);
      state.retryTimer = setTimeout(connect, delay);
    });
  }

  const handlers = {
    welcome(f) {
      state.joined = true;
      state.retry = 0;
      state.me = f.you;
      state.room = f.room;
      state.styles = f.room.styles || [];
      state.emoji = f.room.emoji || [];
      store("stickerbot.session", f.you.session);
      store("stickerbot.name", f.you.name);
      hideJoin();
      setStatus(null);
      document.title = `#${f.room.name} · Stickerbot chat`;
      $("room-name").textContent = `#${f.room.name}`;
      $("message-input").maxLength = f.room.max_chars;
      renderStyles(f.room.default_style);
      state.members = new Map(f.members.map((m) => [m.id, m.name]));
      state.memberCount = typeof f.count === "number" ? f.count : f.members.length;
      renderMembers();
      if (f.reset) {
        $("messages").replaceChildren();
        state.messages.clear();
        state.lastId = null;
      }
      for (const p of state.pending.values()) p.remove();
      state.pending.clear();
      for (const m of f.history) addMessage(m);
      for (const p of f.pending) showPending(p);
      state.recent = f.recent || [];
      renderTray();
      if (!state.messages.size) {
        systemLine("Welcome! Say hi, or try /sticker eating otter.");
      }
      scrollToBottom(true);
    },
    message(f) {
      const stick = nearBottom() || (f.message.author && state.me && f.message.author.id === state.me.id);
      addMessage(f.message);
      if (stick) scrollToBottom(true);
    },
    pending(f) { showPending(f.pending); },
    pending_end(f) {
      const node = state.pending.get(f.id);
      if (node) node.remove();
      state.pending.delete(f.id);
    },
    candidates(f) { showCandidates(f); },
    presence(f) {
      // One change per frame (joined or left) plus the room's count, never the whole list.
      if (f.joined) state.members.set(f.joined.id, f.joined.name);
      if (f.left) state.members.delete(f.left.id);
      state.memberCount = typeof f.count === "number" ? f.count : state.members.size;
      renderMembers();
    },
    style(f) { renderStyles(f.style); },
    notice(f) { notice(f.text, f.level); },
    error(f) {
      state.lastError = f.text;
      if (!state.joined) showJoin(f.text);
      else notice(f.text, "error");
      if (f.code === "unauthorized") {
        $("token-details").open = true;
        store("stickerbot.token", null);
      }
    },
  };

  // ------------------------------------------------------------------ join screen
  function showJoin(error) {
    $("join").hidden = false;
    $("join-room").textContent = `#${state.roomFromUrl || "lobby"}`;
    $("join-name").value = load("stickerbot.name");
    const err = $("join-error");
    err.hidden = !error;
    err.textContent = error || "";
    $("join-name").focus();
  }

  function hideJoin() {
    $("join").hidden = true;
  }

  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("join-name").value.trim();
    if (!name) return;
    store("stickerbot.name", name);
    const token = $("join-token").value.trim();
    if (token) store("stickerbot.token", token);
    $("join-error").hidden = true;
    if (state.ws) state.ws.close();
    connect();
  });

  // ------------------------------------------------------------------ rendering
  function setStatus(text) {
    const box = $("status");
    box.hidden = !text;
    box.textContent = text || "";
  }

  function renderMembers() {
    $("member-count").textContent = String(state.memberCount);
    const members = [...state.members].map(([id, name]) => ({ id, name }));
    members.sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
    const list = $("members");
    list.replaceChildren(...members.map((m) => {
      const li = el("li", null, m.name);
      if (state.me && m.id === state.me.id) li.append(el("span", "muted", " (you)"));
      return li;
    }));
  }

  function renderStyles(current) {
    const select = $("style-select");
    select.replaceChildren(...state.styles.map((s) => {
      const opt = el("option", null, s.name);
      opt.value = s.name;
      opt.title = s.description;
      return opt;
    }));
    if (current) select.value = current;
    const admin = !!(state.me && state.me.admin);
    select.disabled = !admin || !state.styles.length;
    select.parentElement.title = admin ? "The room's sticker style" : "Only room admins can change the style";
  }

  $("style-select").addEventListener("change", (event) => {
    send("set_style", { style: event.target.value });
  });

  $("members-button").addEventListener("click", () => {
    const list = $("members");
    list.hidden = !list.hidden;
    $("members-button").setAttribute("aria-expanded", String(!list.hidden));
  });

  function systemLine(text, level) {
    const line = el("div", `system ${level || "info"}`, text);
    $("messages").append(line);
    return line;
  }

  function notice(text, level) {
    systemLine(text, level === "error" ? "error" : "info");
    scrollToBottom(true);
  }

  function authorLine(m) {
    const head = el("div", "meta");
    head.append(el("span", "author", m.author.name));
    head.append(el("time", "time", timeText(m.ts)));
    return head;
  }

  function addMessage(m) {
    if (state.messages.has(m.id)) return;
    if (m.id > 0 && (state.lastId === null || m.id > state.lastId)) state.lastId = m.id;
    let node;
    if (m.kind === "system") {
      node = el("div", "system info", `${m.author.name}: ${m.text}`);
    } else {
      const mine = state.me && m.author.id === state.me.id;
      node = el("article", `msg ${m.kind}${mine ? " mine" : ""}`);
      node.append(authorLine(m));
      if (m.reply_to) {
        node.append(el("div", "reply", `${m.reply_to.emoji} reaction to ${m.reply_to.name}`));
      }
      if (m.sticker) {
        node.append(stickerFigure(m));
        if (!state.recent.includes(m.sticker.sha256)) {
          state.recent.unshift(m.sticker.sha256);
          state.recent = state.recent.slice(0, 16);
          renderTray();
        }
      } else {
        node.append(el("div", "bubble", m.text));
      }
      if (m.id < 0) {  // not kept (the server's store is full): nothing to react to later
        node.dataset.id = String(m.id);
        state.messages.set(m.id, node);
        insertInOrder(node, Number.MAX_SAFE_INTEGER);
        return;
      }
      const react = el("button", "react-button", "☺");
      react.type = "button";
      react.title = "React with a sticker";
      react.setAttribute("aria-label", "React with a sticker");
      react.addEventListener("click", (event) => {
        event.stopPropagation();
        openEmojiPicker(react, m.id);
      });
      node.append(react);
    }
    node.dataset.id = String(m.id);
    state.messages.set(m.id, node);
    insertInOrder(node, m.id);
  }

  function insertInOrder(node, id) {
    const box = $("messages");
    // Messages normally arrive in order; after a reconnect a late one may need to slot in.
    let before = null;
    for (const [otherId, other] of state.messages) {
      if (otherId > id && other.isConnected && (!before || otherId < Number(before.dataset.id))) before = other;
    }
    if (before) box.insertBefore(node, before);
    else {
      const firstPending = box.querySelector(".pending");
      if (firstPending) box.insertBefore(node, firstPending);
      else box.append(node);
    }
  }

  function stickerFigure(m) {
    const fig = el("figure", "sticker");
    const img = el("img", "sticker-img");
    img.src = m.sticker.url;
    img.alt = m.text ? `Sticker: ${m.text}` : "Sticker";
    img.width = 180;
    img.height = 180;
    img.loading = "lazy";
    img.decoding = "async";
    img.tabIndex = 0;
    img.addEventListener("load", () => scrollToBottom(false));
    const open = (event) => {
      event.stopPropagation();
      openStickerMenu(img, m);
    };
    img.addEventListener("click", open);
    img.addEventListener("keydown", (event) => { if (event.key === "Enter") open(event); });
    fig.append(img);
    if (m.text) fig.append(el("figcaption", null, m.text));
    return fig;
  }

  function showPending(p) {
    let node = state.pending.get(p.id);
    if (!node) {
      node = el("article", "msg pending");
      node.append(el("div", "meta"), el("div", "placeholder"));
      state.pending.set(p.id, node);
      $("messages").append(node);
      scrollToBottom(true);
    }
    const meta = node.querySelector(".meta");
    meta.replaceChildren(el("span", "author", p.author.name));
    let where;
    if (p.position === null || p.position === undefined) where = "⏳ waiting…";
    else if (p.position === 0) where = "🎨 drawing…";
    else where = `⏳ #${p.position} in line`;
    const box = node.querySelector(".placeholder");
    box.replaceChildren(el("span", "where", where), el("span", "prompt", p.prompt));
  }

  // ------------------------------------------------------------------ menus
  function closePopovers() {
    $("menu").hidden = true;
    $("emoji-picker").hidden = true;
    state.menuFor = null;
  }

  function placePopover(pop, anchor) {
    pop.hidden = false;
    const r = anchor.getBoundingClientRect();
    const w = pop.offsetWidth;
    const h = pop.offsetHeight;
    let left = Math.min(Math.max(8, r.left), window.innerWidth - w - 8);
    let top = r.bottom + 6;
    if (top + h > window.innerHeight - 8) top = Math.max(8, r.top - h - 6);
    pop.style.left = `${left}px`;
    pop.style.top = `${top}px`;
  }

  function menuButton(label, action) {
    const b = el("button", "menu-item", label);
    b.type = "button";
    b.setAttribute("role", "menuitem");
    b.addEventListener("click", (event) => {
      event.stopPropagation();
      closePopovers();
      action();
    });
    return b;
  }

  function openStickerMenu(anchor, m) {
    closePopovers();
    const menu = $("menu");
    const items = [];
    if (m.sticker.record_id) {
      items.push(menuButton("🔄 Reroll", () => send("reroll", { record_id: m.sticker.record_id })));
      items.push(menuButton("4 more", () => send("more", { record_id: m.sticker.record_id })));
      items.push(menuButton("🎬 Animate", () =>
        send("animate", { record_id: m.sticker.record_id, sha256: m.sticker.sha256 })));
    }
    items.push(menuButton("↻ Send again", () => send("resend", { sha256: m.sticker.sha256 })));
    const dl = el("a", "menu-item", "⬇ Download");
    dl.href = m.sticker.url;
    dl.download = `sticker-${m.sticker.sha256.slice(0, 12)}.webp`;
    dl.setAttribute("role", "menuitem");
    dl.addEventListener("click", () => closePopovers());
    items.push(dl);
    menu.replaceChildren(...items);
    state.menuFor = m.id;
    placePopover(menu, anchor);
  }

  function openEmojiPicker(anchor, messageId) {
    closePopovers();
    const pick = $("emoji-picker");
    pick.replaceChildren(...state.emoji.map((e) => {
      const b = el("button", "emoji", e);
      b.type = "button";
      b.setAttribute("role", "menuitem");
      b.addEventListener("click", (event) => {
        event.stopPropagation();
        closePopovers();
        send("react", { message_id: messageId, emoji: e });
      });
      return b;
    }));
    placePopover(pick, anchor);
  }

  document.addEventListener("click", (event) => {
    if (!event.target.closest(".popover")) closePopovers();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      closePopovers();
      $("sticker-form").hidden = true;
    }
  });

  // ------------------------------------------------------------------ tray and candidates
  function thumb(url, label, onPick) {
    const b = el("button", "thumb");
    b.type = "button";
    b.title = label;
    const img = el("img");
    img.src = url;
    img.alt = label;
    img.loading = "lazy";
    b.append(img);
    b.addEventListener("click", onPick);
    return b;
  }

  function renderTray() {
    const items = $("tray-items");
    items.replaceChildren(...state.recent.map((sha) =>
      thumb(`/stickers/${sha}.webp`, "Send this sticker again", () => {
        send("resend", { sha256: sha });
        $("tray").hidden = true;
      })));
    if (!state.recent.length) items.append(el("p", "muted", "Stickers posted here will show up in this tray."));
  }

  $("tray-button").addEventListener("click", () => {
    $("tray").hidden = !$("tray").hidden;
    $("candidates").hidden = true;
  });
  $("tray-close").addEventListener("click", () => { $("tray").hidden = true; });

  function showCandidates(f) {
    const box = $("candidates");
    $("candidates-title").textContent = f.prompt ? `Pick one to post: ${f.prompt}` : "Pick one to post";
    $("candidate-items").replaceChildren(...f.stickers.map((s, i) =>
      thumb(s.url, `Choice ${i + 1}`, () => {
        send("pick", { record_id: f.record_id, sha256: s.sha256 });
        box.hidden = true;
      })));
    $("tray").hidden = true;
    box.hidden = false;
  }
  $("candidates-close").addEventListener("click", () => { $("candidates").hidden = true; });

  // ------------------------------------------------------------------ composing
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("message-input");
    const text = input.value.trim();
    if (!text) return;
    if (send("chat", { text })) input.value = "";
  });

  $("sticker-button").addEventListener("click", () => {
    const form = $("sticker-form");
    form.hidden = !form.hidden;
    if (!form.hidden) $("sticker-prompt").focus();
  });

  $("sticker-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("sticker-prompt");
    const prompt = input.value.trim();
    if (!prompt) return;
    if (send("sticker", { prompt })) {
      input.value = "";
      $("sticker-form").hidden = true;
    }
  });

  // ------------------------------------------------------------------ teaching (POST /teach)
  function showTeach(name) {
    const form = $("teach-form");
    form.hidden = false;
    if (name) $("teach-name").value = name;
    $("teach-photos").focus();
  }

  $("teach-button").addEventListener("click", () => {
    const form = $("teach-form");
    if (form.hidden) showTeach(null);
    else form.hidden = true;
  });

  handlers.teach_open = (f) => showTeach(f.name);

  handlers.teach = (f) => {
    const bar = $("teach-progress");
    bar.hidden = f.status === "done" || f.status === "failed";
    bar.value = f.percent;
    $("teach-status").textContent = f.message;
    if (f.status === "done" || f.status === "failed") notice(f.message, f.status === "failed" ? "error" : "info");
    if (f.preview) {
      const img = $("teach-preview");
      img.src = f.preview;
      img.hidden = false;
      $("teach-form").hidden = false;
    }
  };

  $("teach-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!state.room || !state.me) return;
    const data = new FormData();
    data.append("room", state.room.name);
    data.append("name", $("teach-name").value.trim());
    const token = load("stickerbot.token");
    if (token) data.append("token", token);
    for (const file of $("teach-photos").files) data.append("photo", file, file.name);
    $("teach-status").textContent = "Uploading…";
    $("teach-preview").hidden = true;
    try {
      const response = await fetch("/teach", {
        method: "POST",
        body: data,
        headers: { "X-Stickerbot-Session": load("stickerbot.session") || "" },
      });
      const answer = await response.json();
      $("teach-status").textContent = answer.ok ? answer.message : answer.error;
      if (!answer.ok) notice(answer.error, "error");
    } catch (_) {
      $("teach-status").textContent = "The upload failed. Is the bot running?";
    }
  });

  // ------------------------------------------------------------------ start
  // A shared link may carry the room's access token (?token=…): remember it, then drop it from
  // the address bar so it is not left in the history or on screen.
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    store("stickerbot.token", params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  if (load("stickerbot.name")) connect();
  else showJoin();
})();
