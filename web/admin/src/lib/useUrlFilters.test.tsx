import { describe, expect, it } from "vitest";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter, useLocation } from "react-router";
import { applyChanges, pageParam, TYPING_MS, useUrlFilters } from "./useUrlFilters";
import { DATABASE_TYPES, oneOf, SEVERITIES, SLOW_QUERY_SORT_VALUES } from "../api/types";

const qs = (s: string) => new URLSearchParams(s);

describe("URL filters", () => {
  it("set and clear several at once, back to page 1 unless the page itself changes", () => {
    expect(applyChanges(qs("a=1&page=3"), { b: "2" }).toString()).toBe("a=1&b=2");
    expect(applyChanges(qs("a=1&page=3"), { a: "" }).toString()).toBe("");
    expect(applyChanges(qs("a=1&page=3"), { a: undefined, b: "x y" }).toString()).toBe("b=x+y");
    expect(applyChanges(qs("a=1&page=3"), { page: "4" }).toString()).toBe("a=1&page=4");
    expect(applyChanges(qs("a=1&page=3"), { selected: "9" }, false).toString()).toBe("a=1&page=3&selected=9");
  });

  it("read the page as a positive whole number, 1 otherwise", () => {
    expect(pageParam(qs(""))).toBe(1);
    expect(pageParam(qs("page=4"))).toBe(4);
    for (const bad of ["0", "-2", "2.5", "x", ""]) expect(pageParam(qs(`page=${bad}`))).toBe(1);
  });

  it("accept only the schema's values for its enums", () => {
    expect(oneOf("HIGH", SEVERITIES)).toBe("HIGH");
    expect(oneOf("high", SEVERITIES)).toBeUndefined();
    expect(oneOf(null, DATABASE_TYPES)).toBeUndefined();
    expect(oneOf("execution_time_ms", SLOW_QUERY_SORT_VALUES)).toBe("execution_time_ms");
    expect(SEVERITIES.map((s) => s.value)).toEqual(["CRITICAL", "HIGH", "MEDIUM", "LOW"]);
  });
});

function Probe() {
  const { text, type, clear, update } = useUrlFilters(["q"] as const);
  const location = useLocation();
  return (
    <>
      <input aria-label="q" value={text.q} onChange={(e) => type("q", e.target.value)} />
      <button type="button" onClick={clear}>
        clear
      </button>
      <button type="button" onClick={() => update({ q: "from-a-link" })}>
        link
      </button>
      <output data-testid="search">{location.search}</output>
    </>
  );
}

describe("typed URL filters", () => {
  function setup(url: string) {
    render(
      <MemoryRouter initialEntries={[url]}>
        <Probe />
      </MemoryRouter>,
    );
    return { field: screen.getByLabelText("q"), search: () => screen.getByTestId("search").textContent };
  }
  const wait = (ms: number) => act(() => new Promise((r) => setTimeout(r, ms)));
  const typeInto = (el: HTMLElement, value: string) => fireEvent.change(el, { target: { value } });

  it("start from the URL and reach it, trimmed, once typing stops", async () => {
    const { field, search } = setup("/x?q=old&page=2");
    expect(field).toHaveValue("old");
    typeInto(field, "orders ");
    expect(field).toHaveValue("orders ");
    expect(search()).toBe("?q=old&page=2");
    await wait(TYPING_MS + 50);
    expect(search()).toBe("?q=orders");
    expect(field).toHaveValue("orders ");
  });

  it("clear drops what was being typed, and the field follows a URL changed otherwise", async () => {
    const { field, search } = setup("/x?q=old");
    typeInto(field, "half");
    expect(field).toHaveValue("half");
    await act(() => screen.getByText("clear").click());
    expect(field).toHaveValue("");
    await wait(TYPING_MS + 50);
    expect(search()).toBe("");
    await act(() => screen.getByText("link").click());
    expect(field).toHaveValue("from-a-link");
  });
});
