// Staff screens: the print button on welcome cards and printed cards.
for (const button of document.querySelectorAll(".print-button")) {
  button.addEventListener("click", () => window.print());
}
