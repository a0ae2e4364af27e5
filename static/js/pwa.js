// Installs the service worker (/sw.js) that keeps the app shell and the offline page,
// so that a relative on a poor connection gets a useful page instead of the browser's error.
const script = document.getElementById("pwa-script");

async function register() {
  if (!("serviceWorker" in navigator) || !script) return;
  try {
    await navigator.serviceWorker.register(script.dataset.sw, { scope: "/" });
  } catch {
    return; // the site works the same without it
  }
  const worker = (await navigator.serviceWorker.ready).active;
  // The offline page is kept in the language it was fetched in: fetch it again after a
  // change of language, while we are online to do so.
  const lang = document.documentElement.lang;
  if (worker && navigator.onLine && !document.getElementById("offline-page")
      && localStorage.getItem("parloir.offline-lang") !== lang) {
    worker.postMessage({ type: "refresh-offline" });
    localStorage.setItem("parloir.offline-lang", lang);
  }
}

const retry = document.getElementById("offline-retry");
if (retry) retry.addEventListener("click", () => location.reload());

register();
