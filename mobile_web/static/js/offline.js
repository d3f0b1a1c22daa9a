// The offline page goes back to the page that was asked for once the connection returns.
// The service worker shows this page in place of a page that could not load, at that page's
// own address, so loading the address again is asking for it again: at once when the browser
// says it is online, and, as a browser does not always notice (a server or proxy away while
// the phone's own network stays up), after asking this server whether it answers, after 2,
// 4, 8, 16, then every 30 seconds. Opened at its own address, the page stays where it is.
const OFFLINE = "/offline";
const PROBE_SECONDS_FIRST = 2;
const PROBE_SECONDS_MAX = 30;

function askAgain() {
  window.location.reload();
}

async function answers() {
  try {
    const response = await fetch(OFFLINE, { cache: "no-store", credentials: "same-origin" });
    return response.ok;
  } catch {
    return false;
  }
}

function probeAfter(seconds) {
  window.setTimeout(async () => {
    if (navigator.onLine && (await answers())) {
      askAgain();
    } else {
      probeAfter(Math.min(seconds * 2, PROBE_SECONDS_MAX));
    }
  }, seconds * 1000);
}

if (window.location.pathname !== OFFLINE) {
  window.addEventListener("online", askAgain);
  probeAfter(PROBE_SECONDS_FIRST);
}
