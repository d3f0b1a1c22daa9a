// A waiting payment request (the till's QR, or a resident's "pay me" QR): listens to the
// request's event stream and says the outcome the moment it comes: "Paid ✓" (or
// "Received ✓") in words with the payer's name below, with a sound and a buzz, the code
// and what could be done with it (more time, cancel) gone, then loads the page again for
// the whole record. Without this script the page offers a link that checks again.
const box = document.getElementById("request");

function again() {
  window.location.replace(window.location.pathname);
}

function celebrate() {
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

function paid(event) {
  let data = {};
  try { data = JSON.parse(event.data); } catch { /* the words alone */ }
  const status = document.getElementById("till-status");
  const words = document.createElement("span");
  words.textContent = box.dataset.paidWords;
  status.classList.add("done");
  status.replaceChildren(words);
  if (data.payer_name) {
    const who = document.createElement("bdi"); // a name in any script, on a line of its own
    who.textContent = data.payer_name;
    status.append(who);
  }
  for (const done of document.querySelectorAll("main img.qr, main form, #request p.small")) {
    done.hidden = true;
  }
  celebrate();
  window.setTimeout(again, 1500);
}

if (box && box.dataset.events && "EventSource" in window) {
  const stream = new EventSource(box.dataset.events);
  // A form on its way (cancel, more time) decides where the page goes next.
  document.addEventListener("submit", () => stream.close());
  stream.addEventListener("paid", (event) => {
    stream.close();
    paid(event);
  });
  for (const kind of ["cancelled", "expired"]) {
    stream.addEventListener(kind, () => {
      stream.close();
      again();
    });
  }
  const seconds = Number(box.dataset.secondsLeft || "0");
  if (seconds > 0) window.setTimeout(again, (seconds + 1) * 1000);
  const link = document.getElementById("check-again");
  if (link) link.hidden = true;
}
