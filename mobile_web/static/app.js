// Buurtmunt's only script: installs the service worker and keeps the last known balance
// for the offline page. Pages work without it; nothing here moves credits.
const LAST = "buurtmunt:last-balance";
const OFFLINE_LANGUAGE = "buurtmunt:offline-language";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}

function remember() {
  const balance = document.getElementById("balance");
  if (!balance) return;
  const seen = {
    text: balance.textContent.trim(),
    updated: balance.dataset.updated,
    lang: document.documentElement.lang,
  };
  try { localStorage.setItem(LAST, JSON.stringify(seen)); } catch { /* private mode */ }
}

function recall() {
  const box = document.getElementById("last");
  if (!box) return;
  let seen = null;
  try { seen = JSON.parse(localStorage.getItem(LAST) || "null"); } catch { seen = null; }
  if (!seen || !seen.text) return;
  document.getElementById("last-balance").textContent = seen.text;
  const when = document.getElementById("last-updated");
  when.dateTime = seen.updated;
  when.textContent = new Date(seen.updated).toLocaleString(document.documentElement.lang, {
    dateStyle: "long", timeStyle: "short",
  });
  box.hidden = false;
}

function keepOfflinePageInLanguage() {
  // The service worker keeps the offline page in the language it was installed in;
  // after a switch, it fetches the page again in the new one.
  const language = document.documentElement.lang;
  if (!("serviceWorker" in navigator)) return;
  let kept = null;
  try { kept = localStorage.getItem(OFFLINE_LANGUAGE); } catch { return; }
  if (kept === language) return;
  navigator.serviceWorker.ready.then((registration) => {
    if (!registration.active) return;
    registration.active.postMessage({ refresh: "/offline" });
    try { localStorage.setItem(OFFLINE_LANGUAGE, language); } catch { /* next time */ }
  });
}

function forget() {
  if (document.body.dataset.forget) {
    try {
      localStorage.removeItem(LAST);
      localStorage.removeItem("buurtmunt:paycode");
    } catch { /* nothing kept */ }
  }
}

function payOnce() {
  // One tap, one payment: while the form is on its way a second tap sends nothing and the
  // buttons stay down. They go down after the form's fields are taken, so a button that
  // carries the amount (the till's quick choices) still sends it; a page shown again from
  // the browser's cache (Back) can be sent again.
  for (const form of document.querySelectorAll("form.pay")) {
    let sent = false;
    form.addEventListener("submit", (event) => {
      if (sent) {
        event.preventDefault();
        return;
      }
      sent = true;
      window.setTimeout(() => {
        for (const button of form.querySelectorAll("button")) button.disabled = true;
      }, 0);
    });
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      sent = false;
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    });
  }
}

function celebrate() {
  if (!document.body.dataset.paid) return;
  if (navigator.vibrate) navigator.vibrate([120, 60, 120]);
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch { /* no sound: the page says it */ }
}

remember();
recall();
keepOfflinePageInLanguage();
forget();
payOnce();
celebrate();
