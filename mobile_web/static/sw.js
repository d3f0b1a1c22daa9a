// Buurtmunt's service worker: keeps the app shell so the phone still opens offline.
// Pages that go to the network stay network-only (they are personal and never stored);
// without a network a page opens the cached offline page, which shows the last known
// balance and when it was updated, at the address of the page asked for (its script loads
// that address again once the connection returns). Only GET requests are handled: nothing
// that moves credits is ever kept, queued or sent again.
const SHELL = "buurtmunt-shell-v3";
const ASSETS = ["/offline", "/static/app.css", "/static/app.js", "/static/icons/app.svg",
  "/static/js/offline.js", "/static/js/paycode.js", "/static/js/qr.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.refresh === "/offline") {
    event.waitUntil(caches.open(SHELL).then((cache) => cache.add("/offline")));
  }
});

async function fromShell(request) {
  const cache = await caches.open(SHELL);
  const kept = await cache.match(request);
  const fresh = fetch(request).then((response) => {
    if (response.ok) cache.put(request, response.clone());
    return response;
  }).catch(() => kept);
  return kept || fresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match("/offline")));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(fromShell(request));
  }
});
