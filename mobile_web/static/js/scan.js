// The scanner: the rear camera, read by the browser's BarcodeDetector where it exists,
// otherwise frame by frame on the server (zxing-cpp; the section's data-scan names where).
// On the pay screen only our own QR codes (this site's /P/<code>) lead on to the pay page;
// anything else is named as not ours. At the till (data-mode="till") a pay code's 12
// digits or a card's code fill in the form; on the coordinator's card screen
// (data-mode="card") a card's code is sent to find its resident. Without this script the pages still take a
// photo or a typed code.
const section = document.getElementById("scanner");
const video = document.getElementById("camera");
const status = document.getElementById("scan-status");
const start = document.getElementById("start-camera");
const FRAME_MS = 500;
const FRAME_SIDE_MAX = 640; // about 3 ms to read on the server, 25 kB to send
const OURS = /^\/P\/([A-Z2-7]{26})$/i;
const PAY_CODE = /^[0-9]{12}$/;
const CARD = /^BMC1:[A-Z2-7]{1,400}$/;
const TILL = section && section.dataset.mode === "till";
const CARD_MODE = section && section.dataset.mode === "card";

function ours(text) {
  try {
    const url = new URL(text.trim());
    const match = url.pathname.match(OURS);
    if (!match || url.host.toLowerCase() !== window.location.host.toLowerCase()) return null;
    return "/P/" + match[1].toUpperCase();
  } catch {
    return null;
  }
}

function say(text) {
  if (status && text && status.textContent !== text) status.textContent = text;
}

function stop(stream) {
  for (const track of stream.getTracks()) track.stop();
  section.dataset.stopped = "1";
}

function go(path, stream) {
  stop(stream);
  window.location.assign(path);
}

// At the till: the code read goes into its field, and the camera stops.
function fill(text, stream) {
  const field = document.getElementById(PAY_CODE.test(text) ? "code" : "card");
  field.value = text;
  stop(stream);
  say(section.dataset.read);
  field.focus();
}

// On the coordinator's card screen: the card's code is sent, which opens its resident.
function find(text, stream) {
  document.getElementById("card").value = text;
  stop(stream);
  document.getElementById("card-form").requestSubmit();
}

function take(text, stream) {
  if (CARD_MODE) {
    if (!CARD.test(text)) return false;
    find(text, stream);
    return true;
  }
  if (TILL) {
    if (!PAY_CODE.test(text) && !CARD.test(text)) return false;
    fill(text, stream);
    return true;
  }
  const path = ours(text);
  if (!path) return false;
  go(path, stream);
  return true;
}

async function detector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
}

async function readHere(reader, stream) {
  const codes = await reader.detect(video);
  for (const code of codes) {
    if (take(code.rawValue.trim(), stream)) return;
    say(section.dataset.notOurs);
  }
}

async function readOnServer(canvas, stream) {
  const scale = Math.min(1, FRAME_SIDE_MAX / Math.max(video.videoWidth, video.videoHeight));
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  const frame = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
  if (!frame) return;
  const form = new FormData();
  form.append("csrf", section.dataset.csrf);
  form.append("photo", frame, "frame.jpg");
  const response = await fetch(section.dataset.scan, {
    method: "POST", body: form, headers: { Accept: "application/json" }, credentials: "same-origin",
  });
  if (!response.ok) return;
  const answer = await response.json();
  if (answer.outcome === "found" && answer.next) return go(answer.next, stream);
  if (answer.outcome === "found" && answer.text) {
    take(answer.text, stream);
    return;
  }
  if (answer.outcome === "foreign") say(answer.message);
}

async function scan() {
  if (start) start.hidden = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" } }, audio: false,
    });
  } catch {
    section.hidden = false;
    say(section.dataset.noCamera);
    if (start) start.hidden = false;
    return;
  }
  section.hidden = false;
  video.srcObject = stream;
  await video.play().catch(() => {});
  const reader = await detector();
  const canvas = document.createElement("canvas");
  const tick = async () => {
    if (section.dataset.stopped) return;
    if (video.readyState >= 2 && video.videoWidth) {
      try {
        if (reader) await readHere(reader, stream);
        else await readOnServer(canvas, stream);
      } catch { /* the next frame tries again */ }
    }
    window.setTimeout(tick, FRAME_MS);
  };
  tick();
}

if (section && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  if (start) {
    start.addEventListener("click", () => {
      delete section.dataset.stopped;
      scan();
    });
  }
  if (TILL) {
    if (start) start.hidden = false;
  } else {
    scan();
  }
}
