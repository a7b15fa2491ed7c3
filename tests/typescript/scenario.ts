// A frontend's first day with the API, written against the client generated from openapi.yaml
// (openapi-typescript + openapi-fetch). It must compile under `--strict` with no casts and no `any`
// (tests/api/typescript.rs checks both), and it runs against a real server: API_URL names it.
//
// Sign up, sign in, read the vocabulary, add a site, read it with its ETag, change it with If-Match
// (and see a stale If-Match refused), search near a ZIP with facets, walk two pages by cursor, and
// read the site's history.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type Schemas = components["schemas"];
type Modality = Schemas["Modality"];
type NewSite = Schemas["NewSite"];
type SitePatch = Schemas["SitePatch"];
type Problem = Schemas["Problem"];
type Site = Schemas["Site"];

function check(condition: boolean, message: string): asserts condition {
  if (!condition) {
    throw new Error(message);
  }
}

function problemText(problem: Problem): string {
  const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
  return `${problem.status} ${problem.title}${fields ? ` (${fields})` : ""}`;
}

const baseUrl = process.env.API_URL;
check(baseUrl !== undefined && baseUrl !== "", "set API_URL to the server's address");
const api = createClient<paths>({ baseUrl });

// Signing up and in.
const email = `typed.client.${Date.now()}@example.org`;
const password = "a typed client's passphrase";
const signUp = await api.POST("/v1/accounts", {
  body: { email, password, display_name: "Typed Client" },
});
check(signUp.response.status === 201, `sign-up answered ${signUp.response.status}`);
check(signUp.data !== undefined && signUp.data.role === "member", "a new account is a member");

const signIn = await api.POST("/v1/sessions", { body: { email, password } });
if (signIn.error) {
  throw new Error(`sign-in failed: ${problemText(signIn.error)}`);
}
const session = signIn.data;
check(session.token_type === "Bearer", "a bearer token");
const authorization = `Bearer ${session.token}`;

// The vocabulary: codes to offer in forms, never hard-coded.
const vocabulary = await api.GET("/v1/vocabulary");
check(vocabulary.data !== undefined, "the vocabulary");
const ct = vocabulary.data.modalities.find((m) => m.arrt === "CT");
check(ct !== undefined && ct.clinical_experience, "CT is a post-primary modality");
const modality: Modality = ct.code;
const imagingCenter = vocabulary.data.site_types.find((t) => t.code === "imaging_center");
check(imagingCenter !== undefined, "imaging centers are a site type");

// Adding three sites near Columbus, Ohio (43210): the first as its coordinator (who may edit it),
// the others as a member who knows them.
const names = ["Typed Riverside Imaging", "Typed Olentangy Clinic", "Typed Scioto Hospital"];
const created: Site[] = [];
for (const [i, name] of names.entries()) {
  const body: NewSite = {
    name,
    site_type: imagingCenter.code,
    city: "Columbus",
    state: "OH",
    postal_code: i === 0 ? "43210" : i === 1 ? "43201" : "43215",
    payment: "free",
    hipaa_training: "provided_by_site",
    schedule: ["weekday", "evening"],
    offers: { [modality]: { capacity: 2, accepts: ["independent"], verifier_on_site: true } },
    manage: i === 0,
  };
  const response = await api.POST("/v1/sites", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    headers: { Authorization: authorization },
    body,
  });
  if (response.error) {
    throw new Error(`creating ${name}: ${problemText(response.error)}`);
  }
  check(response.response.status === 201, "created");
  created.push(response.data);
}
const first = created[0];
check(first !== undefined, "the first site");
check(first.status === "unverified" && first.source === "coordinator", "a coordinator's site is unverified");
const firstOffer = first.offers[modality];
check(firstOffer !== undefined && firstOffer.accepting, "the CT offer accepts candidates by default");

// Reading it back with its ETag, then asking again with If-None-Match.
const read = await api.GET("/v1/sites/{site_id}", { params: { path: { site_id: first.site_id } } });
check(read.data !== undefined, "the site reads back");
const etag = read.response.headers.get("ETag");
check(etag !== null, "an ETag");
const unchanged = await api.GET("/v1/sites/{site_id}", {
  params: { path: { site_id: first.site_id }, header: { "If-None-Match": etag } },
});
check(unchanged.response.status === 304, `If-None-Match answered ${unchanged.response.status}`);

// Changing it with If-Match: the patch's own example shape, one offer field.
const patch: SitePatch = { payment: "fee", fee_usd: 250, offers: { [modality]: { capacity: 3 } } };
const patched = await api.PATCH("/v1/sites/{site_id}", {
  params: { path: { site_id: first.site_id }, header: { "If-Match": etag } },
  headers: { Authorization: authorization, "Content-Type": "application/merge-patch+json" },
  body: patch,
});
if (patched.error) {
  throw new Error(`patching: ${problemText(patched.error)}`);
}
check(patched.data.payment === "fee" && patched.data.fee_usd === 250, "the fee is set");
check(patched.data.offers[modality]?.capacity === 3, "the capacity changed");
check(patched.data.version === read.data.version + 1, "a new revision");

// A stale If-Match is refused with 412, and the listing is unchanged.
const stale = await api.PATCH("/v1/sites/{site_id}", {
  params: { path: { site_id: first.site_id }, header: { "If-Match": etag } },
  headers: { Authorization: authorization, "Content-Type": "application/merge-patch+json" },
  body: { name: "Typed Riverside Imaging Center" },
});
check(stale.response.status === 412, `a stale If-Match answered ${stale.response.status}`);
check(stale.error !== undefined && stale.error.status === 412, "a problem document");

// Searching near the ZIP with facets, two pages by cursor.
const near = {
  modality: [modality],
  near: "43210",
  radius: "25mi",
  facets: ["modality", "site_type", "payment"],
  limit: 2,
  sort: "distance",
} satisfies NonNullable<paths["/v1/sites"]["get"]["parameters"]["query"]>;
const page1 = await api.GET("/v1/sites", { params: { query: near } });
if (page1.error) {
  throw new Error(`searching: ${problemText(page1.error)}`);
}
check(page1.data.total.value === 3 && page1.data.total.relation === "eq", "three sites nearby");
check(page1.data.items.length === 2, "a page of two");
const nearest = page1.data.items[0];
check(nearest !== undefined && nearest.site_id === first.site_id, "the site in 43210 is nearest");
check(nearest.distance !== undefined && nearest.distance !== null && nearest.distance < 1, "within a mile");
check(nearest.distance_unit === "mi", "distances in miles");
const modalityCounts = page1.data.facets?.modality ?? [];
check(modalityCounts.some((c) => c.value === "ct" && c.count === 3), "the modality facet counts three");
const cursor = page1.data.next_cursor;
check(typeof cursor === "string", "a next page");
const page2 = await api.GET("/v1/sites", { params: { query: { ...near, cursor } } });
if (page2.error) {
  throw new Error(`page two: ${problemText(page2.error)}`);
}
check(page2.data.items.length === 1 && page2.data.next_cursor === null, "the last page has one site");
const seen = new Set([...page1.data.items, ...page2.data.items].map((s) => s.site_id));
check(seen.size === 3, "every site once");

// The site's history: the creation and the change, newest first, with typed changes.
const history = await api.GET("/v1/sites/{site_id}/history", {
  params: { path: { site_id: first.site_id }, query: { limit: 10 } },
  headers: { Authorization: authorization },
});
if (history.error) {
  throw new Error(`history: ${problemText(history.error)}`);
}
const kinds = history.data.items.map((c) => c.kind);
check(kinds.join(",") === "update,create", `history kinds ${kinds.join(",")}`);
const update = history.data.items[0];
check(update !== undefined, "the update");
const payment = update.changes["payment"];
check(payment !== undefined && payment.old === "free" && payment.new === "fee", "the payment change");

// Signing out: the token stops working.
const signOut = await api.DELETE("/v1/sessions/current", { headers: { Authorization: authorization } });
check(signOut.response.status === 204, `sign-out answered ${signOut.response.status}`);
const after = await api.GET("/v1/me", { headers: { Authorization: authorization } });
check(after.response.status === 401 && after.error !== undefined, "signed out");

console.log(`scenario passed: ${created.length} sites, ${history.data.items.length} changes`);
