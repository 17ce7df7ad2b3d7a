// turnout console: live runs list, run timeline (SVG), live run page, decisions, actions.
// Plain JavaScript modules, no dependencies; every request goes to this server only.
//   console/common.js          names and helpers the modules share
//   console/home.js            the home page's live parts; forms posted by script
//   console/timeline-model.js  the timeline's rows from a run's events
//   console/timeline-draw.js   the timeline as SVG
//   console/run.js             the live run page and its decisions
//   console/actions.js         a run's actions: cancel, terminate, signal, re-run
//   console/schedule.js        a schedule's page: pause, unpause, trigger, delete

import { liveParts, postFormsByScript } from "./console/home.js";
import { liveRun } from "./console/run.js";
import { liveSchedule } from "./console/schedule.js";

postFormsByScript();

document.addEventListener("DOMContentLoaded", () => {
  liveParts();
  liveRun();
  liveSchedule();
});
