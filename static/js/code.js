// The SMS link carries the code after "#": it never reaches the server's logs; the page
// fills it in. Then the code leaves the address bar, so that it stays out of history.
const input = document.getElementById("code");
const digits = Number(document.getElementById("code-form").dataset.digits);
let fromLink = "";
try {
  fromLink = decodeURIComponent(location.hash.slice(1)).replace(/\D/g, "");
} catch {
  // A mangled link: the relative types the code.
}
if (input && fromLink.length === digits) {
  input.value = fromLink;
  history.replaceState(null, "", location.pathname + location.search);
}
