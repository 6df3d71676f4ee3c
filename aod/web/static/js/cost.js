// Spending (cost.summary): a month's total, by project, agent, model and session, and the
// budgets with how much of each is spent.

import {badge, el, fill} from "./dom.js";
import {usd} from "./format.js";

function table(title, lines, testid) {
  return el("section", {class: "cost-table", testid},
    el("h3", {}, title),
    lines.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "cost"), el("th", {}, "tokens in / out / cache read / write"))),
      el("tbody", {}, lines.map((line) => el("tr", {testid: `${testid}-row`},
        el("td", {}, line.name, line.project && line.project !== line.name ? el("span", {class: "note"}, ` ${line.project}`) : null),
        el("td", {class: "num"}, usd(line.cost_usd), line.unpriced ? " +?" : ""),
        el("td", {class: "num"}, [line.input_tokens, line.output_tokens, line.cache_read_tokens, line.cache_write_tokens].map((n) => (n ?? 0).toLocaleString()).join(" / "))))))
      : el("p", {class: "empty"}, "Nothing spent."));
}

function budgets(lines) {
  if (lines === undefined) return el("section", {testid: "cost-budgets"}, el("h3", {}, "Budgets"), el("p", {class: "empty", testid: "budgets-unavailable"}, "Budgets are not available on this aod."));
  return el("section", {testid: "cost-budgets"}, el("h3", {}, "Budgets"),
    lines.length ? el("ul", {class: "budgets"}, lines.map((line) => el("li", {testid: "budget", data: {exceeded: String(line.exceeded)}},
      el("span", {class: "name"}, line.name), " ",
      el("meter", {min: "0", max: String(line.limit_usd), value: String(Math.min(line.spent_usd, line.limit_usd)), high: String(line.limit_usd * 0.8), optimum: "0"}), " ",
      `${usd(line.spent_usd)} of ${usd(line.limit_usd)}`, " ",
      line.exceeded ? badge("exceeded", "bad") : null)))
      : el("p", {class: "empty"}, "No budgets set (config: budgets)."));
}

export class CostView {
  constructor(root, rpc) {
    this.root = root;
    this.rpc = rpc;
    this.month = el("input", {type: "month", testid: "cost-month"});
    this.body = el("div", {testid: "cost"});
    this.month.addEventListener("change", () => this.load());
    fill(root, el("div", {class: "filters"}, el("label", {}, "Month ", this.month),
      el("button", {type: "button", testid: "cost-refresh", on: {click: () => this.load()}}, "Refresh")), this.body);
  }

  async load() {
    const params = this.month.value ? {month: this.month.value} : {};
    try {
      const cost = await this.rpc.call("cost.summary", params);
      if (!this.month.value) this.month.value = cost.month;
      fill(this.body,
        el("p", {class: "total", testid: "cost-total"}, `${cost.month}: ${usd(cost.total_usd)}`, cost.unpriced ? " (at least: some usage has no known price)" : ""),
        budgets(cost.budgets),
        el("div", {class: "cost-grid"},
          table("By project", cost.projects, "cost-projects"), table("By agent", cost.agents, "cost-agents"),
          table("By model", cost.models, "cost-models"), table("By session", cost.sessions, "cost-sessions")));
    } catch (error) {
      fill(this.body, el("p", {class: "error", testid: "cost-error"}, error.message));
    }
  }
}
