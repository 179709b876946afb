// Asks the API through this server's /api/ proxy and shows what it answers.
fetch('/api/version')
  .then((r) => r.json())
  .then((v) => {
    document.getElementById('root').insertAdjacentHTML('beforeend', `<p>API: ${v.service} ${v.sha}</p>`);
  })
  .catch((e) => {
    document.getElementById('root').insertAdjacentHTML('beforeend', `<p>API unreachable: ${e}</p>`);
  });
