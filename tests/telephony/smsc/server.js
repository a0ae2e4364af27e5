// An SMSC on loopback for parloir's SMPP tests, on the npm `smpp` package (an
// implementation independent of the smpplib client under test).
//
// node server.js SYSTEM_ID PASSWORD
// Prints one JSON object per line: {"event":"listening","port":N}, then "bind",
// "submit" (with the text as this library decodes it), "receipt", "unbind", "drop".
// Reads commands as JSON lines on stdin:
//   {"cmd":"fail","to":"33612345678"}   receipts for this number say UNDELIV
//   {"cmd":"throttle","count":3}        the next 3 submit_sm get ESME_RTHROTTLED
//   {"cmd":"drop"}                      close every session, as a network cut would
"use strict";

const smpp = require("smpp");
const readline = require("readline");

const [systemId, password] = process.argv.slice(2);
const failing = new Set();
let throttle = 0;
let nextId = 1000;
const sessions = new Set();

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function receipt(session, submit, id, delivered) {
  const stat = delivered ? "DELIVRD" : "UNDELIV";
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(2, 12);
  session.deliver_sm({
    source_addr: submit.destination_addr,
    destination_addr: submit.source_addr,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    short_message: `id:${id} sub:001 dlvrd:${delivered ? "001" : "000"} submit date:${stamp} done date:${stamp} stat:${stat} err:${delivered ? "000" : "001"} text:`,
    receipted_message_id: String(id),
    message_state: delivered ? 2 : 5,
  }, (pdu) => emit({ event: "receipt", id: String(id), stat, status: pdu.command_status }));
}

const server = smpp.createServer((session) => {
  sessions.add(session);
  session.on("close", () => sessions.delete(session));
  session.on("error", () => sessions.delete(session));
  session.on("bind_transceiver", (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      emit({ event: "bind_refused", system_id: pdu.system_id });
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    emit({ event: "bind", system_id: pdu.system_id });
    session.send(pdu.response({ system_id: "parloir-test-smsc" }));
  });
  session.on("submit_sm", (pdu) => {
    if (throttle > 0) {
      throttle -= 1;
      emit({ event: "throttled", to: pdu.destination_addr });
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    const id = nextId++;
    const message = pdu.short_message || {};
    emit({
      event: "submit",
      id: String(id),
      to: pdu.destination_addr,
      from: pdu.source_addr,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      udh: (message.udh || []).map((part) => Array.from(part)),
      text: typeof message.message === "string" ? message.message : String(message.message),
      at: Date.now(),
    });
    session.send(pdu.response({ message_id: String(id) }));
    if (pdu.registered_delivery & 1) {
      receipt(session, pdu, id, !failing.has(pdu.destination_addr));
    }
  });
  session.on("enquire_link", (pdu) => session.send(pdu.response()));
  session.on("unbind", (pdu) => {
    emit({ event: "unbind" });
    session.send(pdu.response());
    session.close();
  });
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.cmd === "fail") failing.add(command.to);
  else if (command.cmd === "throttle") throttle = command.count;
  else if (command.cmd === "drop") {
    for (const session of sessions) session.socket.destroy();
    sessions.clear();
    emit({ event: "drop" });
    return;
  }
  emit({ event: "ok", cmd: command.cmd });
});

server.listen(0, "127.0.0.1", () => emit({ event: "listening", port: server.address().port }));
