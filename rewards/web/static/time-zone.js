// Tells the pages the browser's time zone: a cookie the server reads when the forum did not say the member's own
// (rewards/web/render.py, TIME_ZONE_COOKIE). Times on the first page seen are in the site's default zone; every
// page after it in the browser's. Without JavaScript, the default zone.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone || zone.length > 64 || !/^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
    return; // an IANA name (Europe/Warsaw) is a valid cookie value as it is; anything else is left out
  }
  var wanted = "rewards_tz=" + zone;
  if (document.cookie.split("; ").indexOf(wanted) === -1) {
    document.cookie = wanted + "; path=/; max-age=31536000; samesite=lax";
  }
})();
