// My pay code, computed on this phone: the device number, then the RFC 6238 TOTP
// (HMAC-SHA1 through WebCrypto, 30-second steps, 6 digits) of the device's secret. It
// renews itself every step and needs no network; the QR images the page brought cover
// the next few minutes, after that the digits alone are shown.
const box = document.getElementById("paycode");
const KEPT = "buurtmunt:paycode";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(text) {
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const char of text.replace(/=+$/, "")) {
    value = (value << 5) | ALPHABET.indexOf(char);
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

function grouped(code) {
  return code.match(/.{1,3}/g).join(" ");
}

async function show() {
  if (!box || !window.crypto || !crypto.subtle) return;
  const number = box.dataset.number;
  const secret = box.dataset.secret;
  const stepSeconds = Number(box.dataset.step || "30");
  try { localStorage.setItem(KEPT, JSON.stringify({ number, secret, stepSeconds })); } catch { /* private mode */ }
  const key = await crypto.subtle.importKey(
    "raw", base32(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"],
  );
  const digits = document.getElementById("paycode-digits");
  const render = async () => {
    const now = Date.now() / 1000;
    const step = Math.floor(now / stepSeconds);
    const code = number + await totp(key, step);
    const bdi = document.createElement("bdi");
    bdi.textContent = grouped(code);
    digits.replaceChildren(bdi);
    let shown = false;
    for (const image of box.querySelectorAll("img[data-step]")) {
      const current = Number(image.dataset.step) === step;
      image.hidden = !current;
      shown = shown || current;
    }
    box.dataset.qrShown = shown ? "1" : "0";
    window.setTimeout(render, ((step + 1) * stepSeconds - now) * 1000 + 50);
  };
  render();
}

show();
