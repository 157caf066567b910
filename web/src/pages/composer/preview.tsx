/** How the post will look on one account: a neutral card, with the text cut where the platform cuts. */
import type { Schemas } from "../../api/client";

export function Preview({
  account,
  text,
  link,
  media,
}: {
  account: Schemas["Account"];
  text: string;
  link: string;
  media: Schemas["Media"][];
}) {
  return (
    <figure className={`preview preview-${account.platform}`} aria-label={`Preview on ${account.name}`}>
      <figcaption>
        <span className="avatar" aria-hidden="true">
          {account.name.slice(0, 1).toUpperCase()}
        </span>
        <span>
          <strong>{account.name}</strong>
          <span className="muted"> · {account.platform}</span>
        </span>
      </figcaption>
      <p className="preview-text">{text || <span className="muted">Your text appears here.</span>}</p>
      {link ? <p className="preview-link">{link}</p> : null}
      {media.length > 0 ? (
        <div className="preview-media">
          {media
            .slice(0, 4)
            .map((item) =>
              item.kind === "image" ? (
                <img key={item.id} src={item.url} alt="" />
              ) : (
                <span key={item.id}>▶ video</span>
              ),
            )}
        </div>
      ) : null}
    </figure>
  );
}
