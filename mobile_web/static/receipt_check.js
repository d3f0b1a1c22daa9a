// Checks a receipt (c2sp.org/tlog-proof) in the browser, as `buurtmunt verify-receipt` does:
// the checkpoint's Ed25519 signature (C2SP signed note) under the given verifier key, then the
// RFC 6962 inclusion proof of SHA-256(0x00 || entry) up to the checkpoint's root hash.
// The receipt is the JSON document GET /api/v1/receipts/{id} gives, or the tlog-proof text
// with the entry pasted apart. Nothing leaves the page.

const HEADER = "c2sp.org/tlog-proof@v1";
const HASH_BYTES = 32;
const PROOF_HASHES_MAX = 64; // a tree of 2**63 entries has no longer proof
const NOTE_SIGNATURE_PREFIX = "\u2014 ";
const TEXT_CHARS_MAX = 200000;
const encoder = new TextEncoder();

class Unreadable extends Error {}
class Invalid extends Error {}

function base64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new Unreadable("not base64: " + text.slice(0, 20));
  }
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function join(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function same(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", join(...parts)));
}

function decimal(text) {
  if (!/^(0|[1-9][0-9]{0,18})$/.test(text)) throw new Unreadable("not a decimal: " + text);
  return BigInt(text);
}

// The verifier key: <name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 public key)>.
async function parseKey(text) {
  // The name holds no "+"; the base64 may.
  const match = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text.trim());
  if (!match) throw new Unreadable("not a verifier key");
  const [, name, keyId, encoded] = match;
  const body = base64(encoded);
  if (body.length !== 33 || body[0] !== 1) throw new Unreadable("not an Ed25519 key");
  const id = (await sha256(encoder.encode(name + "\n"), body)).slice(0, 4);
  const hex = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex !== keyId) throw new Unreadable("the key id does not match the key");
  const key = await crypto.subtle.importKey("raw", body.slice(1), { name: "Ed25519" }, false, [
    "verify",
  ]);
  return { name, id, key };
}

function parseReceipt(text) {
  const split = text.indexOf("\n\n");
  if (split < 0) throw new Unreadable("no blank line before the checkpoint");
  const head = text.slice(0, split).split("\n");
  const note = text.slice(split + 2);
  if (head[0] !== HEADER) throw new Unreadable("not a tlog-proof receipt");
  let at = 1;
  if (head[at] !== undefined && head[at].startsWith("extra ")) at += 1;
  if (head[at] === undefined || !head[at].startsWith("index ")) throw new Unreadable("no index");
  const index = decimal(head[at].slice(6));
  const proof = head.slice(at + 1).map(base64);
  if (proof.length > PROOF_HASHES_MAX || proof.some((h) => h.length !== HASH_BYTES)) {
    throw new Unreadable("bad proof hashes");
  }
  return { index, proof, note };
}

// A signed note: the text up to and including its last newline, a blank line, signatures.
async function openCheckpoint(note, verifier) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Unreadable("not a signed note");
  const body = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let signed = false;
  for (const line of lines) {
    if (!line.startsWith(NOTE_SIGNATURE_PREFIX)) throw new Unreadable("bad signature line");
    const [name, encoded] = line.slice(NOTE_SIGNATURE_PREFIX.length).split(" ");
    if (name !== verifier.name || encoded === undefined) continue;
    const signature = base64(encoded);
    if (signature.length !== 68 || !same(signature.slice(0, 4), verifier.id)) continue;
    const ok = await crypto.subtle.verify(
      { name: "Ed25519" }, verifier.key, signature.slice(4), encoder.encode(body),
    );
    if (!ok) throw new Invalid("the signature does not verify");
    signed = true;
  }
  if (!signed) throw new Invalid("no signature by this key");
  const [origin, size, root] = body.split("\n");
  const rootHash = base64(root ?? "");
  if (!origin || rootHash.length !== HASH_BYTES) throw new Unreadable("not a checkpoint");
  return { origin, size: decimal(size ?? ""), root: rootHash };
}

// RFC 9162 section 2.1.3.2: the root the proof leads to from the leaf at index in size.
async function rootFromProof(leaf, index, size, proof) {
  if (index >= size) throw new Invalid("the index is past the checkpoint");
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  const node = new Uint8Array([1]);
  for (const p of proof) {
    if (sn === 0n) throw new Invalid("the proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(node, p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await sha256(node, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Invalid("the proof is too short");
  return r;
}

function receiptAndEntry(text, entryText) {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let document;
    try {
      document = JSON.parse(trimmed);
    } catch {
      throw new Unreadable("not JSON");
    }
    if (typeof document.receipt !== "string" || typeof document.entry !== "string") {
      throw new Unreadable("the document has no receipt and entry");
    }
    return { receipt: document.receipt, entry: document.entry };
  }
  if (!entryText) throw new Unreadable("the entry is missing");
  return { receipt: text.replace(/\r\n/g, "\n"), entry: entryText.replace(/\r?\n$/, "") };
}

export async function checkReceipt(text, entryText, keyText) {
  if (text.length > TEXT_CHARS_MAX || entryText.length > TEXT_CHARS_MAX) {
    throw new Unreadable("too large");
  }
  const verifier = await parseKey(keyText);
  const { receipt, entry } = receiptAndEntry(text, entryText);
  const parsed = parseReceipt(receipt);
  const checkpoint = await openCheckpoint(parsed.note, verifier);
  const leaf = await sha256(new Uint8Array([0]), encoder.encode(entry));
  const root = await rootFromProof(leaf, parsed.index, checkpoint.size, parsed.proof);
  if (!same(root, checkpoint.root)) throw new Invalid("the proof does not lead to the root");
  return { index: parsed.index, origin: checkpoint.origin, size: checkpoint.size };
}

function show(outcome, detail) {
  const box = document.getElementById("receipt-outcome");
  for (const p of box.querySelectorAll("[data-outcome]")) {
    p.hidden = p.dataset.outcome !== outcome;
  }
  const line = box.querySelector("[data-detail]");
  line.textContent = detail;
  line.hidden = !detail;
  box.dataset.state = outcome;
}

async function onSubmit(event) {
  event.preventDefault();
  const form = event.target;
  if (!(crypto && crypto.subtle)) {
    show("unsupported", "");
    return;
  }
  try {
    const file = form.elements.file.files[0];
    const text = file ? await file.text() : form.elements.receipt.value;
    const found = await checkReceipt(text, form.elements.entry.value, form.elements.key.value);
    show("valid", `${found.origin} · ${found.index} / ${found.size}`);
  } catch (error) {
    if (error instanceof Invalid) show("invalid", error.message);
    else if (error instanceof Unreadable) show("unreadable", error.message);
    else if (error && error.name === "NotSupportedError") show("unsupported", "");
    else show("unreadable", String(error && error.message));
  }
}

const form = document.getElementById("receipt-check");
if (form) form.addEventListener("submit", onSubmit);
