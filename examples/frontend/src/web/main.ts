/** The page: lists and creates items, shows the backend version. Plain DOM, text only (no innerHTML). */
import { type Api, createApi, type Item } from './api.js';

const api: Api = createApi();

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) if (value !== undefined) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function render(root: HTMLElement): void {
  const version = element('p', { class: 'version', 'data-testid': 'version' }, 'backend version: …');
  const form = element('form', { class: 'create' });
  const input = element('input', { name: 'name', maxlength: '200', placeholder: 'New item', required: '' });
  const button = element('button', { type: 'submit' }, 'Add');
  form.append(input, button);
  const status = element('p', { class: 'status', role: 'status' });
  const stats = element('p', { class: 'stats' });
  const list = element('ul', { class: 'items' });
  root.replaceChildren(element('h1', {}, 'JetScale items'), version, form, status, stats, list);

  const showItems = (items: Item[]): void => {
    list.replaceChildren(
      ...items.map((item) => {
        const li = element('li', { 'data-id': String(item.id) });
        li.append(element('span', { class: 'name' }, item.name));
        li.append(element('time', { datetime: item.createdAt }, new Date(item.createdAt).toLocaleString()));
        return li;
      }),
    );
    if (items.length === 0) list.append(element('li', { class: 'empty' }, 'No items yet.'));
  };

  const refresh = async (): Promise<void> => {
    try {
      showItems(await api.listItems());
      stats.textContent = `items created: ${(await api.stats()).itemsCreated}`;
    } catch (error) {
      status.textContent = `Could not load items: ${(error as Error).message}`;
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value;
    button.disabled = true;
    api
      .createItem(name)
      .then(async (item) => {
        input.value = '';
        status.textContent = `Added “${item.name}”.`;
        await refresh();
      })
      .catch((error: Error) => {
        status.textContent = `Could not add: ${error.message}`;
      })
      .finally(() => {
        button.disabled = false;
      });
  });

  api
    .version()
    .then((v) => {
      version.textContent = `backend version: ${v.sha}`;
    })
    .catch((error: Error) => {
      version.textContent = `backend version: unavailable (${error.message})`;
    });
  void refresh();
}

const root = document.getElementById('app');
if (root) render(root);
