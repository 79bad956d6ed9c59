// The live table: connects to the gateway's /ws on this page's host,
// subscribes to every instrument, and updates each instrument's row in
// place. The gateway never sends a window older than one it sent on the
// same connection; the page also ignores any not newer than its row's, so
// that a reconnection to another gateway instance cannot take a price back.
"use strict";

const rowsBody = document.getElementById("rows");
const stateEl = document.getElementById("state");
const noteEl = document.getElementById("note");
const rows = new Map(); // ISIN -> {tr, cells, end}
const numberFormat = new Intl.NumberFormat("en-US");
const decimalFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });
const collator = new Intl.Collator("en");
let received = []; // arrival times of updates in the last second, for the rate
let backoff = 500;
let newestShown = 0; // the newest window end the page has shown

function setState(state, note) {
  stateEl.dataset.state = state;
  stateEl.textContent = state;
  noteEl.hidden = !note;
  noteEl.textContent = note || "";
}

function timeOfDay(ms) {
  return new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
}

function newRow(isin, name) {
  const tr = document.createElement("tr");
  tr.dataset.isin = isin;
  const cells = {};
  for (const [key, cls] of [["name", "name"], ["isin", "isin"], ["price", "num price"], ["chg", "num chg"],
    ["pct", "num pct"], ["high", "num high"], ["low", "num low"], ["volume", "num volume"], ["count", "num count"],
    ["window", "window"]]) {
    const td = document.createElement("td");
    td.className = cls;
    tr.appendChild(td);
    cells[key] = td;
  }
  cells.isin.textContent = isin;
  cells.name.textContent = name;
  // Rows stay sorted by name: insert before the first row named after it.
  let before = null;
  for (const other of rowsBody.children) {
    if (collator.compare(other.firstChild.textContent, name) > 0) {
      before = other;
      break;
    }
  }
  rowsBody.insertBefore(tr, before);
  const row = { tr, cells, end: 0 };
  rows.set(isin, row);
  document.getElementById("count").textContent = rows.size;
  return row;
}

function apply(item, highlight) {
  const trade = item.trade && typeof item.trade === "object" ? item.trade : {};
  const name = typeof trade.name === "string" ? trade.name : item.isin;
  const row = rows.get(item.isin) || newRow(item.isin, name);
  if (item.window_end <= row.end) {
    return; // not newer than what the row shows
  }
  row.end = item.window_end;
  row.tr.dataset.end = item.window_end;
  const price = Number(trade.price);
  const prev = Number(trade.prevClose);
  const c = row.cells;
  c.price.textContent = Number.isFinite(price) ? numberFormat.format(price) : "–";
  let direction = "flat";
  if (Number.isFinite(price) && Number.isFinite(prev) && prev > 0) {
    const change = price - prev;
    direction = change > 0 ? "up" : change < 0 ? "down" : "flat";
    c.chg.textContent = (change > 0 ? "+" : "") + numberFormat.format(change);
    c.pct.textContent = (change > 0 ? "+" : "") + (100 * change / prev).toFixed(2);
  } else {
    c.chg.textContent = c.pct.textContent = "–";
  }
  // The window's high, low and volume, present when the aggregator computes
  // its interval aggregates.
  for (const key of ["high", "low", "volume"]) {
    c[key].textContent = typeof item[key] === "number" ? decimalFormat.format(item[key]) : "–";
  }
  c.count.textContent = item.trade_count;
  c.window.textContent = timeOfDay(item.window_start) + "–" + timeOfDay(item.window_end);
  row.tr.classList.remove("up", "down", "flash-up", "flash-down", "flash-flat");
  row.tr.classList.add(direction);
  if (highlight) {
    void row.tr.offsetWidth; // restart the animation
    row.tr.classList.add("flash-" + direction);
  }
}

function handle(message) {
  if (message.type === "error") {
    setState("live", "gateway: " + message.error);
    return;
  }
  if (message.type !== "snapshot" && message.type !== "updates") {
    return;
  }
  let newest = 0;
  for (const item of message.items) {
    apply(item, message.type === "updates");
    newest = Math.max(newest, item.window_end);
  }
  if (message.type !== "updates") {
    return;
  }
  const now = Date.now();
  received.push([now, message.items.length]);
  // The delay is measured when a window first reaches the page: from the
  // window's end to now (this computer's clock against the server's).
  if (newest > newestShown) {
    newestShown = newest;
    document.getElementById("delay").textContent = numberFormat.format(now - newest) + " ms";
    document.getElementById("window").textContent = timeOfDay(newest);
  }
}

function showRate() {
  const now = Date.now();
  received = received.filter(([t]) => now - t < 5000);
  const total = received.reduce((sum, [, n]) => sum + n, 0);
  document.getElementById("rate").textContent = numberFormat.format(Math.round(total / 5));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws");
  ws.onopen = () => {
    backoff = 500;
    setState("live");
    ws.send(JSON.stringify({ type: "subscribe", all: true }));
  };
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = (event) => {
    const why = "connection closed (" + event.code + (event.reason ? ": " + event.reason : "") + "); retrying in " + (backoff / 1000) + " s";
    setState("reconnecting", why);
    setTimeout(connect, backoff);
    backoff = Math.min(2 * backoff, 10000);
  };
}

setInterval(showRate, 1000);
connect();
