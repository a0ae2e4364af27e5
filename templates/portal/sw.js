// parloir's service worker (served as /sw.js by www/portal/pwa.py).
// It keeps the app shell (style, scripts, icons) and a generic offline page, and nothing
// else: code checks, consents, call pages and help pages always go to the network and
// are never stored, since a relative's phone is often shared.
const VERSION = "{{ version }}";
const CACHE = `parloir-shell-${VERSION}`;
const OFFLINE_URL = {{ offline_url_json|safe }};
const SHELL = {{ shell_json|safe }};
// Other audiences share the origin; their pages are none of this worker's business.
const NOT_OURS = {{ not_ours_json|safe }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll([...SHELL, OFFLINE_URL].map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("parloir-shell-") && name !== CACHE).map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((cached) => cached || fetch(request)));
    return;
  }
  if (request.mode === "navigate" && !NOT_OURS.some((prefix) => url.pathname.startsWith(prefix))) {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
  }
});

self.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "refresh-offline") return;
  event.waitUntil(
    fetch(OFFLINE_URL, { cache: "no-store" })
      .then((response) => (response.ok ? caches.open(CACHE).then((cache) => cache.put(OFFLINE_URL, response)) : null))
      .catch(() => null),
  );
});
