// The watch page of the console: the call's media and its countdown.
import { watch, tickDeadline } from "./console-watch.js";

const section = document.getElementById("watch");
const state = document.getElementById("call-state");
if (section) {
  watch(section, {
    callId: Number(section.dataset.call),
    onState: (s) => {
      if (s.state) {
        state.dataset.state = s.state;
        state.textContent = s.state;
      }
    },
  });
}
const left = document.getElementById("watch-left");
if (left) setInterval(() => tickDeadline(left, left.dataset.deadline), 1000);
