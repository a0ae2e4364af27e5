// The relative's whole flow in Debian's firefox-esr, driven over WebDriver BiDi by
// puppeteer-core (no browser download). Started by tests/relative/test_firefox.py inside
// the test's network namespace:
//
//   node relative.mjs '{"base": "http://127.0.0.1:8000", "link": "…/j/…", "code": "1234567890"}'
//
// Prints one JSON object per line: {"event": "check", …}, then {"event": "playing", …} once
// the detainee's video plays; then waits for a line on stdin (the kiosk's side is checked
// meanwhile) before hanging up and closing. {"event": "error", …} on any failure.
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const { base, link, code, firefox = "/usr/bin/firefox-esr" } = JSON.parse(process.argv[2]);
const say = (event, data = {}) => console.log(JSON.stringify({ event, ...data }));
const stdinLine = () => new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve));

const REMOTE_PLAYING = () => {
  const v = document.getElementById("remote");
  return !!v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
};

async function clickAndWait(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return new URL(page.url()).pathname;
}

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: firefox,
  headless: true,
  extraPrefsFirefox: {
    // A fake camera (moving colours) and microphone (a tone), granted without a prompt.
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    // Tests cannot click "play"; a real relative has pressed buttons before the call.
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    // Janus ignores mDNS candidates; the namespace has one private address to offer.
    "media.peerconnection.ice.obfuscate_host_addresses": false,
    "intl.accept_languages": "fr-FR, fr",
    // No sound card here: without a mock audio backend an AudioContext never starts, and
    // the microphone's level meter would read silence.
    "media.cubeb.force_mock_context": true,
    // The portal is served over plain HTTP at the namespace's address (test_firefox.py says
    // why): let it use the camera as it may over HTTPS in production.
    "media.devices.insecure.enabled": true,
    "media.getusermedia.insecure.enabled": true,
  },
});

try {
  const page = await browser.newPage();

  await page.goto(`${base}/verifier`);
  await page.click("#check-start");
  await page.waitForFunction(
    () => ["ok", "problem"].includes(document.getElementById("check").dataset.state),
    { timeout: 30000 },
  );
  say("check", {
    state: await page.evaluate(() => document.getElementById("check").dataset.state),
    results: await page.evaluate(() => Object.fromEntries(
      [...document.querySelectorAll(".check")].map((s) => [s.id.replace("check-", ""), s.dataset.result]),
    )),
    preview: await page.evaluate(() => document.getElementById("check-preview").videoWidth),
  });

  await page.goto(`${link}#${code}`);
  await page.waitForFunction(() => document.getElementById("code").value.length === 10);
  const steps = [new URL(page.url()).pathname];
  steps.push(await clickAndWait(page, "main button[type=submit]"));
  steps.push(await clickAndWait(page, "button[value=accept]"));
  steps.push(await clickAndWait(page, "button[value=accept]"));
  await page.waitForFunction(REMOTE_PLAYING, { timeout: 30000 });
  const before = await page.evaluate(() => document.getElementById("remote").currentTime);
  await page.waitForFunction(
    (t) => document.getElementById("remote").currentTime > t + 0.5,
    { timeout: 15000 },
    before,
  );
  await page.waitForFunction(() => document.getElementById("call").dataset.quality, { timeout: 15000 });
  say("playing", {
    steps,
    width: await page.evaluate(() => document.getElementById("remote").videoWidth),
    state: await page.evaluate(() => document.getElementById("call").dataset.state),
    quality: await page.evaluate(() => document.getElementById("quality-text").textContent),
    userAgent: await browser.version(),
    audioPacketsPerSecond: await page.evaluate(async () => {
      const sent = async () => {
        for (const stat of (await window.parloirCall.publisher.getStats()).values()) {
          if (stat.type === "outbound-rtp" && stat.kind === "audio") return [stat.packetsSent, stat.timestamp];
        }
        return [0, 0];
      };
      const [before, t0] = await sent();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const [after, t1] = await sent();
      return (1000 * (after - before)) / (t1 - t0);
    }),
    subscriberSetup: await page.evaluate(
      () => [...window.parloirCall.subscriber.localDescription.sdp.matchAll(/^a=setup:(\w+)/gm)].map((m) => m[1]),
    ),
  });

  await stdinLine();
  await clickAndWait(page, "#hangup");
  say("ended", { path: new URL(page.url()).pathname });
} catch (error) {
  try {
    // What the page knew when it failed: the call's state and both PeerConnections'.
    const [page] = (await browser.pages()).slice(-1);
    say("page", await page.evaluate(() => {
      const call = window.parloirCall;
      const states = (pc) => pc && [pc.iceConnectionState, pc.connectionState];
      return {
        dataset: { ...(document.getElementById("call") || document.body).dataset },
        publisher: call && states(call.publisher),
        subscriber: call && states(call.subscriber),
      };
    }));
  } catch {
    // nothing more to say
  }
  say("error", { message: String(error && error.message), stack: String(error && error.stack) });
  process.exitCode = 1;
} finally {
  // Firefox can take long to quit after a call; the test only needs it gone.
  await Promise.race([browser.close(), new Promise((resolve) => setTimeout(resolve, 5000))]);
  process.exit();
}
