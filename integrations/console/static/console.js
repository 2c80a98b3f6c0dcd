// The Ask playground: stream the answer (NDJSON), then offer 👍/👎. Text only ever goes
// in through textContent, so nothing a user or a model wrote can become markup.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ask");
  if (!form) return;
  const csrf = form.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  let answerId = null;

  const post = (url, body) =>
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });

  const show = (event) => {
    if (event.kind === "status") $("status").textContent = event.text;
    else if (event.kind === "text") $("answer").textContent = event.text;
    else if (event.kind === "error") {
      $("status").textContent = event.text;
      $("status").classList.add("problem");
    } else if (event.kind === "done") {
      answerId = event.answer_id;
      $("status").textContent = "";
      $("answer").textContent = event.text;
      $("route").textContent = `route ${event.route} · model ${event.model}`;
      const sources = $("sources");
      sources.replaceChildren();
      for (const c of event.citations) {
        const li = document.createElement("li");
        li.textContent = `[${c.n}] ${c.title} (${c.source})`;
        sources.append(li);
      }
      $("rating").hidden = false;
    }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    $("reply").hidden = false;
    $("rating").hidden = true;
    $("rated").textContent = "";
    $("answer").textContent = "";
    $("sources").replaceChildren();
    $("route").textContent = "";
    $("status").classList.remove("problem");
    $("status").textContent = "Asking…";
    const response = await post("/console/ask", {
      question: data.get("question"),
      tenant: data.get("tenant"),
    });
    if (!response.ok || !response.body) {
      $("status").textContent = `The console refused the question (${response.status}).`;
      $("status").classList.add("problem");
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim()) show(JSON.parse(line));
      }
    }
  });

  for (const button of document.querySelectorAll("#rating button")) {
    button.addEventListener("click", async () => {
      if (!answerId) return;
      const rating = button.dataset.rating;
      const response = await post("/console/rate", { answer_id: answerId, rating });
      $("rated").textContent = response.ok
        ? `Saved ${rating === "up" ? "👍" : "👎"}`
        : `Not saved (${response.status})`;
    });
  }
});
