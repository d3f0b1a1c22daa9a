// My pay code, computed on this phone: the device number, then the RFC 6238 TOTP
// (HMAC-SHA1 through WebCrypto, 30-second steps, 6 digits) of the device's secret, as big
// digits and a QR code drawn here. It renews itself every step and needs no network: the
// pay code page keeps the device's number and secret on the phone, and the offline page
// shows the code from them. Signing out forgets them (app.js).
import { digitsQrSvg } from "/static/js/qr.js";

const box = document.getElementById("paycode");
const KEPT = "buurtmunt:paycode";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(text) {
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const char of text.replace(/=+$/, "")) {
    value = ((value << 5) | ALPHABET.indexOf(char)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(bytes);
}

async function totp(key, step) {
  const counter = new ArrayBuffer(8);
  const view = new DataView(counter);
  view.setUint32(0, Math.floor(step / 2 ** 32));
  view.setUint32(4, step >>> 0);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, counter));
  const offset = mac[mac.length - 1] & 0x0f;
  const number = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16)
    | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(number % 1_000_000).padStart(6, "0");
}

function device() {
  if (box.dataset.secret) {
    const given = {
      number: box.dataset.number, secret: box.dataset.secret, stepSeconds: Number(box.dataset.step),
    };
    try { localStorage.setItem(KEPT, JSON.stringify(given)); } catch { /* private mode */ }
    return given;
  }
  try { return JSON.parse(localStorage.getItem(KEPT) || "null"); } catch { return null; }
}

async function show() {
  if (!box || !window.crypto || !crypto.subtle) return;
  const kept = device();
  if (!kept || !kept.secret) return;
  box.hidden = false;
  const key = await crypto.subtle.importKey(
    "raw", base32(kept.secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"],
  );
  const digits = document.getElementById("paycode-digits");
  const image = document.getElementById("paycode-qr");
  const render = async () => {
    const now = Date.now() / 1000;
    const step = Math.floor(now / kept.stepSeconds);
    const code = kept.number + await totp(key, step);
    const bdi = document.createElement("bdi");
    bdi.textContent = code.match(/.{1,3}/g).join(" ");
    digits.replaceChildren(bdi);
    image.src = "data:image/svg+xml;base64," + btoa(digitsQrSvg(code));
    image.dataset.code = code;
    image.hidden = false;
    window.setTimeout(render, ((step + 1) * kept.stepSeconds - now) * 1000 + 50);
  };
  render();
}

show();
