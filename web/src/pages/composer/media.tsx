/** Attaching images and videos: upload a file or import one from a URL (fetched by Herald, safely). */
import { useMutation } from "@tanstack/react-query";
import { useId, useState } from "react";
import { type ApiError, api, type Schemas, unwrap } from "../../api/client";
import { FormError } from "../../components/ui";
import { useWorkspace } from "../../session";

type Media = Schemas["Media"];

export function MediaPicker({ media, onChange }: { media: Media[]; onChange: (media: Media[]) => void }) {
  const { id: workspaceId } = useWorkspace();
  const ids = useId();
  const [url, setUrl] = useState("");
  const upload = useMutation<Media, ApiError, File>({
    mutationFn: (file) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/media", {
          params: { path: { workspaceId } },
          body: { file: file.name },
          bodySerializer: () => {
            const form = new FormData();
            form.append("file", file);
            return form;
          },
        }),
      ),
    onSuccess: (item) => onChange([...media, item]),
  });
  const importUrl = useMutation<Media, ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/media/import", {
          params: { path: { workspaceId } },
          body: { url },
        }),
      ),
    onSuccess: (item) => {
      onChange([...media, item]);
      setUrl("");
    },
  });
  return (
    <fieldset>
      <legend>Media</legend>
      {media.length > 0 ? (
        <ul className="media-list">
          {media.map((item, index) => (
            <li key={item.id}>
              {item.kind === "image" ? (
                <img src={item.url} alt={item.originalName ?? `Image ${index + 1}`} width={80} height={80} />
              ) : (
                <span className="video-chip">Video {item.originalName ?? index + 1}</span>
              )}
              <button
                type="button"
                onClick={() => onChange(media.filter((m) => m.id !== item.id))}
                aria-label={`Remove ${item.originalName ?? `media ${index + 1}`}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <div className="row wrap">
        <label htmlFor={`${ids}-file`} className="button-like">
          {upload.isPending ? "Uploading…" : "Upload an image or video"}
        </label>
        <input
          id={`${ids}-file`}
          className="visually-hidden-file"
          type="file"
          accept="image/*,video/*"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) upload.mutate(file);
            e.target.value = "";
          }}
        />
      </div>
      <div className="row wrap">
        <label htmlFor={`${ids}-url`}>Or import from a URL</label>
        <input
          id={`${ids}-url`}
          type="url"
          placeholder="https://example.com/photo.jpg"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
        />
        <button
          type="button"
          disabled={!/^https?:\/\//.test(url) || importUrl.isPending}
          onClick={() => importUrl.mutate()}
        >
          {importUrl.isPending ? "Importing…" : "Import"}
        </button>
      </div>
      <FormError error={upload.error ?? importUrl.error} />
    </fieldset>
  );
}
