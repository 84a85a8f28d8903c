/* Fovea AI node: refresh the queue, the orders and the jobs from status.json
   every few seconds, without reloading the page. Text goes in with
   textContent only, never as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("ai-status");
  if (!root || !window.fetch) { return; }
  var PERIOD = 2000;
  var statusUrl = root.getAttribute("data-status-url");
  var runUrl = root.getAttribute("data-run-url");
  var shown = "";  /* the last answer rendered: an unchanged one leaves the buttons be */
  var tokenTag = document.querySelector('meta[name="csrf-token"]');
  var token = tokenTag ? tokenTag.getAttribute("content") : "";

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function time(value) { return value ? value.slice(0, 19).replace("T", " ") : ""; }

  function stageCell(job) {
    var td = el("td");
    if (!job) { td.appendChild(el("span", "no job", "muted")); return td; }
    td.appendChild(el("span", job.stage, "stage stage-" + job.stage));
    if (job.attempt > 1) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("small", "attempt " + job.attempt)); }
    if (job.error) { td.appendChild(el("p", job.error, "error")); }
    return td;
  }

  function actionCell(row) {
    var td = el("td");
    if (!row.action) { return td; }
    var form = el("form");
    form.method = "post";
    form.action = runUrl.replace("/0/", "/" + encodeURIComponent(row.order_id) + "/");
    var hidden = el("input");
    hidden.type = "hidden"; hidden.name = "csrf_token"; hidden.value = token;
    form.appendChild(hidden);
    form.appendChild(el("button", row.action));
    td.appendChild(form);
    return td;
  }

  function replaceRows(tbody, rows, columns, emptyText) {
    var fresh = document.createElement("tbody");
    rows.forEach(function (row) { fresh.appendChild(columns(row)); });
    if (!rows.length) {
      var tr = el("tr", null, "empty");
      var td = el("td", emptyText);
      td.colSpan = tbody.parentNode.querySelectorAll("thead th").length;
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    tbody.parentNode.replaceChild(fresh, tbody);
  }

  function patientCell(row) {
    var td = el("td");
    if (!row.patient_name && !row.mrn) { td.appendChild(el("span", "not shown", "muted")); return td; }
    td.appendChild(document.createTextNode(row.patient_name || ""));
    if (row.mrn) { td.appendChild(el("p", "MRN " + row.mrn, "muted")); }
    return td;
  }

  function resultCell(row) {
    var td = el("td");
    var result = row.result;
    if (result) {
      td.appendChild(el("span", result.grade_label || "grade " + result.grade, "result"));
      td.appendChild(el("p", result.referable ? "Referable" : "Not referable",
                        result.referable ? "referable" : "muted"));
    }
    if (row.report_url) {
      var p = el("p");
      var a = el("a", "Report in the EMR");
      a.href = row.report_url;
      p.appendChild(a);
      td.appendChild(p);
    }
    return td;
  }

  function orderRow(row) {
    var tr = el("tr");
    tr.setAttribute("data-order-id", row.order_id);
    [row.order_id, row.accession_number].forEach(function (v) { tr.appendChild(el("td", v)); });
    tr.appendChild(patientCell(row));
    [row.eyes, row.priority, row.scheduled_at].forEach(function (v) {
      tr.appendChild(el("td", v));
    });
    var state = el("td", row.state);
    if (row.state_reason) { state.appendChild(el("p", row.state_reason, "muted")); }
    tr.appendChild(state);
    tr.appendChild(stageCell(row.job));
    tr.appendChild(resultCell(row));
    tr.appendChild(actionCell(row));
    return tr;
  }

  function jobRow(job) {
    var tr = el("tr");
    tr.setAttribute("data-job-id", job.job_id);
    [job.job_id, job.order_id, job.accession_number].forEach(function (v) { tr.appendChild(el("td", v)); });
    tr.appendChild(stageCell(job));
    tr.appendChild(el("td", time(job.enqueued_at)));
    tr.appendChild(el("td", time(job.ended_at)));
    return tr;
  }

  function notice(id, text) {
    var node = document.getElementById(id);
    node.textContent = text || "";
    node.hidden = !text;
  }

  function render(data) {
    var queue = data.queue || {};
    document.getElementById("queue-length").textContent = queue.length === null ? "?" : queue.length;
    var workers = queue.workers || [];
    document.getElementById("worker-count").textContent = workers.length;
    document.getElementById("workers").textContent = workers.map(function (w) {
      return w.hostname + ":" + w.pid + " (" + w.state + ")";
    }).join(", ");
    notice("emr-error", data.emr_error);
    notice("queue-error", data.queue_error);
    replaceRows(document.querySelector("#orders tbody"), data.orders || [], orderRow,
                "No prescription is waiting for AI grading.");
    replaceRows(document.querySelector("#jobs tbody"), data.jobs || [], jobRow, "No job yet.");
  }

  var ENDED = { done: true, failed: true };

  /* A notice about jobs ("Order 7 is queued for grading.") says how they ended
     once they have: "queued" must not stay on screen after the job. */
  function settleNotices(data) {
    var byId = {};
    (data.jobs || []).forEach(function (job) { byId[job.job_id] = job; });
    Array.prototype.forEach.call(document.querySelectorAll(".flash[data-jobs]"), function (node) {
      var ids = node.getAttribute("data-jobs").split(" ").filter(Boolean);
      var jobs, active, failed;
      if (ids.indexOf("*") >= 0) {  /* Run all: every job of the queue */
        jobs = data.jobs || [];
        active = (data.queue || {}).length > 0 || jobs.some(function (j) { return !ENDED[j.stage]; });
      } else {
        jobs = ids.map(function (id) { return byId[id]; }).filter(Boolean);
        active = jobs.some(function (j) { return !ENDED[j.stage]; });
      }
      if (active) { return; }
      failed = jobs.filter(function (j) { return j.stage === "failed"; });
      node.removeAttribute("data-jobs");
      if (ids.length === 1 && jobs.length === 1 && ids[0] !== "*") {
        node.textContent = "Order " + jobs[0].order_id + ": grading " + jobs[0].stage +
          (failed.length ? " (" + (jobs[0].error || "see its row") + ")." : ".");
      } else {
        node.textContent = failed.length ?
          "Grading has ended; " + failed.length + " job(s) failed: see their rows." :
          "Grading has ended for every queued order.";
      }
      node.className = "flash " + (failed.length ? "flash-error" : "flash-success");
    });
  }

  function poll() {
    fetch(statusUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        var text = JSON.stringify(data);
        if (text !== shown) { render(data); shown = text; }
        settleNotices(data);
        notice("queue-error", data.queue_error);
      })
      .catch(function (error) { notice("queue-error", "The page cannot reach the AI node: " + error.message); })
      .then(function () { window.setTimeout(poll, PERIOD); });
  }

  window.setTimeout(poll, PERIOD);
}());
