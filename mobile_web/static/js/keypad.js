// The till's keypad: big keys that type the amount into the hours field, or the minutes
// field after "Minutes" (or whichever of the two was last touched). Without this script
// the fields take the phone's own number keys.
const keypad = document.getElementById("keypad");

if (keypad) {
  const hours = document.getElementById("hours");
  const minutes = document.getElementById("minutes");
  let field = hours;
  for (const input of [hours, minutes]) input.addEventListener("focus", () => { field = input; });
  keypad.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-key]");
    if (!key) return;
    const what = key.dataset.key;
    if (what === "next") field = minutes;
    else if (what === "back") field.value = field.value.slice(0, -1);
    else if (field.value.length < Number(field.maxLength)) field.value += what;
  });
  keypad.hidden = false;
}
