// The calendar day of a date, as YYYY-MM-DD, for reports.
function formatDay(date) {
  return date.toISOString().slice(0, 10);
}
module.exports = { formatDay };
