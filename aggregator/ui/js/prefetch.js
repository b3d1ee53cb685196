// A classic script, run while the page is parsed, before the app's
// modules load: on a dashboard's page it starts the page's first two
// requests (the dashboard and the table list) at once, with the tab's
// token as api.js sends it; api.js takes these answers instead of asking
// again (and asks again when one failed).
(() => {
  const match = /^\/dashboards\/([^/]+)$/.exec(location.pathname);
  if (!match) return;
  const token = sessionStorage.getItem('shoal-token') || '';
  const init = { headers: token ? { authorization: `Bearer ${token}` } : {} };
  const paths = ['/api/v1/tables', `/api/v1/dashboards/${match[1]}`];
  window.shoalPrefetched = new Map(paths.map((path) => [path, fetch(path, init).catch(() => null)]));
})();
